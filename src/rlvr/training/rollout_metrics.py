"""Metrics of one rollout batch, per data_source: lengths, truncation, rewards, verifier errors, and the
monitor's probes (reflection words, behaviour patterns)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rlvr.config import MonitorConfig
from rlvr.rewards.monitoring import DEFAULT_REFLECTION_WORDS, behaviour_metrics, reflection_metrics
from rlvr.rewards.router import ScoreRequest, aggregate_metrics
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import Completion
from rlvr.training.collect import RolloutBatch


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def rollout_metrics(
    completions: Sequence[Completion], requests: Sequence[ScoreRequest], results: Sequence[RewardResult]
) -> dict[str, float]:
    """``reward/<group>/...`` from the router (reward mean, accuracy, errors, latency) plus, per
    data_source and over ``all``: response_length (mean; correct; incorrect) and truncation_rate."""
    metrics = {f"reward/{k}": v for k, v in aggregate_metrics(requests, results).items()}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, req in enumerate(requests):
        groups[f"data_source/{req.data_source}"].append(i)
        groups["all"].append(i)
    for key, idx in groups.items():
        lengths = [float(len(completions[i].token_ids)) for i in idx]
        right = [float(len(completions[i].token_ids)) for i in idx if results[i].correct is True]
        wrong = [float(len(completions[i].token_ids)) for i in idx if results[i].correct is False]
        values = {
            "response_length": _mean(lengths),
            "response_length_correct": _mean(right),
            "response_length_incorrect": _mean(wrong),
            "truncation_rate": _mean([float(completions[i].finish_reason == "length") for i in idx]),
        }
        metrics.update({f"reward/{key}/{k}": v for k, v in values.items() if v is not None})
    return metrics


def monitor_metrics(rollouts: RolloutBatch, monitor: MonitorConfig) -> dict[str, float]:
    """Reflection-word and behaviour-pattern rates per data_source, with accuracy split by presence."""
    texts = [c.text for c in rollouts.completions]
    sources = [r.data_source for r in rollouts.requests]
    correct = [r.correct for r in rollouts.results]
    metrics = reflection_metrics(
        texts, sources, correct, words=monitor.reflection_words or DEFAULT_REFLECTION_WORDS
    )
    for name, pattern in monitor.behaviours.items():
        metrics.update(behaviour_metrics(texts, sources, correct, pattern, name))
    return metrics
