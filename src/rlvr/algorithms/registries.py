"""The registries of the pure math: advantage estimators, policy losses, KL estimators, aggregations.

Each declares its built-in names, so a recipe's names are checked without importing torch
(``tests/algorithms/test_registries.py`` keeps the declarations equal to what the modules register).
"""

from __future__ import annotations

from collections.abc import Callable

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
