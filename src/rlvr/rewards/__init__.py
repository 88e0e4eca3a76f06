"""Rewards: verifiers (a registry of named scoring functions), the per-sample router, schedules.

Importing this package registers every built-in verifier: ``math``, ``exact_match``, ``f1``, ``choice``,
``reasoning_gym``, ``format``, ``length``, ``iou``, ``detection``, ``code``, ``random``, ``incorrect``,
``format_only``, ``contains`` and ``combined``.

Loading data checks each row's reward spec (``rlvr.rewards.schemas``): an unknown verifier, a
parameter it does not take or a ground truth it cannot use fails before any model loads.

The reward server (``rlvr.rewards.server``, FastAPI) and its client ``RemoteRewardRouter`` need the
``server`` extra; ``rlvr.rewards.async_scoring.submit`` scores a batch in the background with either
router.
"""

from rlvr.rewards import (
    schemas,  # noqa: F401  (checks every loaded sample's reward spec)
    verifiers,  # noqa: F401  (registers the built-in verifiers)
)
from rlvr.rewards.client import RemoteRewardRouter, RewardServerError, RewardServerUnreachable
from rlvr.rewards.factory import build_router
from rlvr.rewards.monitoring import DEFAULT_REFLECTION_WORDS, behaviour_metrics, reflection_metrics
from rlvr.rewards.router import RewardRouter, ScoreRequest, aggregate_metrics
from rlvr.rewards.schedules import ThresholdSchedule
from rlvr.rewards.types import VERIFIERS, RewardResult
from rlvr.rewards.verifiers import (
    instructions,  # noqa: F401  (registers ``constraints``)
    judge,  # noqa: F401  (registers llm_judge)
)

__all__ = [
    "DEFAULT_REFLECTION_WORDS",
    "VERIFIERS",
    "RemoteRewardRouter",
    "RewardResult",
    "RewardRouter",
    "RewardServerError",
    "RewardServerUnreachable",
    "ScoreRequest",
    "ThresholdSchedule",
    "aggregate_metrics",
    "behaviour_metrics",
    "build_router",
    "reflection_metrics",
]
