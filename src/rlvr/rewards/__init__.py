"""Rewards: verifiers (a registry of named scoring functions), the per-sample router, schedules.

Importing this package registers every built-in verifier: ``math``, ``exact_match``, ``f1``, ``choice``,
``reasoning_gym``, ``format``, ``length``, ``iou``, ``detection``, ``code``, ``random``, ``incorrect``,
``format_only``, ``contains`` and ``combined``.
"""

from rlvr.rewards import verifiers  # noqa: F401  (registers the built-in verifiers)
from rlvr.rewards.router import RewardRouter, ScoreRequest, aggregate_metrics
from rlvr.rewards.schedules import ThresholdSchedule
from rlvr.rewards.types import VERIFIERS, RewardResult

__all__ = [
    "VERIFIERS",
    "RewardResult",
    "RewardRouter",
    "ScoreRequest",
    "ThresholdSchedule",
    "aggregate_metrics",
]
