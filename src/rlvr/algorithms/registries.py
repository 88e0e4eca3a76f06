"""The registries of the pure math: advantage estimators, policy losses, KL estimators, aggregations."""

from __future__ import annotations

from collections.abc import Callable

from rlvr.registry import Registry

ADVANTAGES: Registry[Callable] = Registry("advantage estimator")
POLICY_LOSSES: Registry[Callable] = Registry("policy loss")
KL_ESTIMATORS: Registry[Callable] = Registry("KL estimator")
LOSS_AGGREGATIONS: Registry[Callable] = Registry("loss aggregation")
