"""The registries of the pure math: advantage estimators, policy losses, KL estimators, aggregations,
and the protocol each registry's functions satisfy (mypy checks every registered built-in against it).

Each declares its built-in names, so a recipe's names are checked without importing torch
(``tests/algorithms/test_registries.py`` keeps the declarations equal to what the modules register).
The protocols' tensor types are annotations only (``TYPE_CHECKING``): this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from rlvr.registry import Registry

if TYPE_CHECKING:
    from torch import Tensor

    from .config import AlgorithmConfig
    from .filters import BatchFilter

_HOME = "rlvr.algorithms.builtin_pieces"


class AdvantageEstimator(Protocol):
    """``fn(token_rewards (B, T), response_mask (B, T), group_index (B,), cfg, values (B, T) | None)
    -> (advantages (B, T), returns (B, T))``; see :mod:`rlvr.algorithms.advantages`. An estimator that
    needs a critic's values says so with a ``needs_values = True`` attribute."""

    def __call__(
        self,
        token_rewards: Tensor,
        response_mask: Tensor,
        group_index: Tensor,
        cfg: AlgorithmConfig,
        values: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]: ...


class Aggregate(Protocol):
    """A loss aggregation with the mini-batch's counts bound: ``aggregate(loss_mat (B, T), mask (B, T))
    -> scalar`` (what a policy loss is handed)."""

    def __call__(self, loss_mat: Tensor, mask: Tensor, /) -> Tensor: ...


class PolicyLoss(Protocol):
    """``fn(logprobs, old_logprobs, advantages, response_mask (all (B, T)), cfg, aggregate, *,
    behaviour_logprobs (B, T) | None) -> (scalar loss, {name: scalar metric})``; see
    :mod:`rlvr.algorithms.losses` (register with :func:`register_policy_loss`)."""

    def __call__(
        self,
        logprobs: Tensor,
        old_logprobs: Tensor,
        advantages: Tensor,
        response_mask: Tensor,
        cfg: AlgorithmConfig,
        aggregate: Aggregate,
        *,
        behaviour_logprobs: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]: ...


class KLEstimator(Protocol):
    """``fn(logprobs (B, T), ref_logprobs (B, T)) -> per-token KL estimate (B, T)``; see
    :mod:`rlvr.algorithms.kl`."""

    def __call__(self, logprobs: Tensor, ref_logprobs: Tensor, /) -> Tensor: ...


class LossAggregation(Protocol):
    """``fn(loss_mat (B, T), mask (B, T), *, num_tokens, num_seqs, norm_len) -> scalar``; see
    :mod:`rlvr.algorithms.aggregation`."""

    def __call__(
        self,
        loss_mat: Tensor,
        mask: Tensor,
        /,
        *,
        num_tokens: float | None = None,
        num_seqs: float | None = None,
        norm_len: int | None = None,
    ) -> Tensor: ...


ADVANTAGES: Registry[AdvantageEstimator] = Registry(
    "advantage estimator", ("grpo", "dr_grpo", "rloo", "reinforce", "reinforce_pp", "gae"), _HOME
)
POLICY_LOSSES: Registry[PolicyLoss] = Registry("policy loss", ("ppo_clip", "vanilla_pg"), _HOME)
KL_ESTIMATORS: Registry[KLEstimator] = Registry("KL estimator", ("k1", "k2", "k3"), _HOME)
LOSS_AGGREGATIONS: Registry[LossAggregation] = Registry(
    "loss aggregation",
    ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "seq_mean_token_sum_norm"),
    _HOME,
)

FILTERS: Registry[BatchFilter] = Registry(
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


def register_policy_loss(name: str, zero_at_zero_advantage: bool) -> Callable[[PolicyLoss], PolicyLoss]:
    """Register a policy loss under ``name``, declaring whether it is exactly zero, with a zero gradient, on
    a row whose advantage is 0 on every token (true of every loss of the form -A * f(ratio)). The learner
    leaves such rows out of the update (the ``zero_advantage`` filter) only for losses that declare it; a
    loss registered with ``POLICY_LOSSES.register`` alone declares nothing and trains every row."""

    def decorator(fn: PolicyLoss) -> PolicyLoss:
        fn.zero_at_zero_advantage = zero_at_zero_advantage  # type: ignore[attr-defined]  # a declared flag
        return POLICY_LOSSES.register(name)(fn)

    return decorator


def zero_at_zero_advantage(loss: Any) -> bool:
    """Whether a registered policy loss declared itself exactly zero at zero advantage (default: no)."""
    return bool(getattr(loss, "zero_at_zero_advantage", False))
