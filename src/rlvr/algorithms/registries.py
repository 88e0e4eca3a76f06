"""The registries of the pure math: advantage estimators, policy losses, KL estimators, aggregations.

Each declares its built-in names, so a recipe's names are checked without importing torch
(``tests/algorithms/test_registries.py`` keeps the declarations equal to what the modules register).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlvr.registry import Registry

_HOME = "rlvr.algorithms.builtin_pieces"

ADVANTAGES: Registry[Callable] = Registry(
    "advantage estimator", ("grpo", "dr_grpo", "rloo", "reinforce", "reinforce_pp", "gae"), _HOME
)
POLICY_LOSSES: Registry[Callable] = Registry("policy loss", ("ppo_clip", "vanilla_pg"), _HOME)
KL_ESTIMATORS: Registry[Callable] = Registry("KL estimator", ("k1", "k2", "k3"), _HOME)
LOSS_AGGREGATIONS: Registry[Callable] = Registry(
    "loss aggregation",
    ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "seq_mean_token_sum_norm"),
    _HOME,
)

FILTERS: Registry[Any] = Registry(
    "filter", ("errored", "overlong", "dynamic_sampling", "zero_advantage"), _HOME
)
"""Filters of the filter stage (:mod:`rlvr.algorithms.filters` registers the built-ins as BatchFilters)."""

VALUE_ESTIMATORS: frozenset[str] = frozenset({"gae"})
"""Built-in advantage estimators that need per-token values from a critic (their function has
``needs_values = True``); a config naming one without a critic is refused at load."""


def needs_values(advantage: str) -> bool:
    """Whether the advantage estimator ``advantage`` needs a critic's values. Built-ins answer from
    :data:`VALUE_ESTIMATORS` (nothing imported); a registered or ``module:attr`` estimator from its
    ``needs_values`` attribute (a ``module:attr`` one is imported only if already registered)."""
    if advantage in VALUE_ESTIMATORS:
        return True
    if advantage in ADVANTAGES.builtins:
        return False
    fn = ADVANTAGES.peek(advantage)
    return bool(getattr(fn, "needs_values", False))


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
