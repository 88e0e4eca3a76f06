"""What a verifier returns, and the registry verifiers live in."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Protocol

from rlvr.registry import Registry


@dataclass
class RewardResult:
    """The outcome of scoring one completion.

    ``score`` is the reward: as a verifier returns it, before the sample's weight is applied; in the
    router's results, times ``RewardSpec.weight`` (the verifier's value is kept in
    ``info["unweighted_score"]``). ``correct`` says whether the answer counts as right for accuracy
    metrics (None when the verifier has no notion of right, e.g. a format check). ``error`` is set when the verifier itself failed (exception, timeout); such a sample is
    reported, never silently scored as a wrong answer.
    """

    score: float
    correct: bool | None = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def as_result(value: object) -> RewardResult:
    """A verifier's return value as a ``RewardResult``: a plain number is the reward (a bool also says
    right or wrong); anything else but a ``RewardResult`` is a TypeError."""
    if isinstance(value, numbers.Real):
        return RewardResult(float(value), correct=bool(value) if isinstance(value, bool) else None)
    if not isinstance(value, RewardResult):
        raise TypeError(f"verifier returned {type(value).__name__}, not a float or a RewardResult")
    return value


class Verifier(Protocol):
    """A verifier: ``fn(completion text, ground truth, **params) -> RewardResult`` (or a plain number, the
    reward, as reward functions return it). Its parameters after the first two are the sample's
    ``RewardSpec.params`` (keyword arguments; each verifier names its own)."""

    def __call__(
        self, completion: str, ground_truth: Any, /, *args: Any, **params: Any
    ) -> RewardResult | float: ...

    def __hash__(self) -> int:
        """Verifiers are hashable (functions are): the router caches which keywords each accepts."""
        ...


VERIFIERS: Registry[Verifier] = Registry("verifier")
