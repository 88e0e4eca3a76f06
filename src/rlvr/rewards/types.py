"""What a verifier returns, and the registry verifiers live in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


# A verifier: (completion text, ground truth, **params) -> RewardResult.
Verifier = Callable[..., RewardResult]

VERIFIERS: Registry[Verifier] = Registry("verifier")
