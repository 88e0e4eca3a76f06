"""Rollout engines: n completions per prompt with behaviour log-probs and finish reasons."""

from rlvr.rollout.engine import CompletionSampler, RolloutEngine, WeightLoadingEngine
from rlvr.rollout.types import Completion, SamplingParams

__all__ = ["Completion", "CompletionSampler", "RolloutEngine", "SamplingParams", "WeightLoadingEngine"]
