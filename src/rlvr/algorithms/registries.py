"""The registries of the pure math: advantage estimators, policy losses, KL estimators, aggregations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlvr.registry import Registry

ADVANTAGES: Registry[Callable] = Registry("advantage estimator")
POLICY_LOSSES: Registry[Callable] = Registry("policy loss")
KL_ESTIMATORS: Registry[Callable] = Registry("KL estimator")
LOSS_AGGREGATIONS: Registry[Callable] = Registry("loss aggregation")


def register_policy_loss(name: str, zero_at_zero_advantage: bool) -> Callable[[Callable], Callable]:
    """Register a policy loss under ``name``, declaring whether it is exactly zero, with a zero gradient, on
    a row whose advantage is 0 on every token (true of every loss of the form -A * f(ratio)). The learner
    leaves such rows out of the update (the ``zero_advantage`` filter) only for losses that declare it; a
    loss registered with ``POLICY_LOSSES.register`` alone declares nothing and trains every row."""

    def decorator(fn: Callable) -> Callable:
        fn.zero_at_zero_advantage = zero_at_zero_advantage  # type: ignore[attr-defined]
        return POLICY_LOSSES.register(name)(fn)

    return decorator


def zero_at_zero_advantage(loss: Any) -> bool:
    """Whether a registered policy loss declared itself exactly zero at zero advantage (default: no)."""
    return bool(getattr(loss, "zero_at_zero_advantage", False))
