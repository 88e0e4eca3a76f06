"""``reasoning_gym``: score with the reasoning-gym task's own ``score_answer``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from rlvr.rewards.extract import tagged
from rlvr.rewards.types import VERIFIERS, RewardResult


@functools.cache
def score_fn(task: str) -> Callable[[str | None, dict[str, Any]], float]:
    """``reasoning_gym.get_score_answer_fn(task)``, built once per process (it instantiates the dataset)."""
    import reasoning_gym

    return reasoning_gym.get_score_answer_fn(task)


@VERIFIERS.register("reasoning_gym")
def reasoning_gym_verifier(
    completion: str, ground_truth: Any, *, answer_tag: str | None = "answer", threshold: float = 1.0
) -> RewardResult:
    """Score = ``score_answer(answer, entry)`` of the reasoning-gym task (a float in [0, 1]).

    ``ground_truth`` is ``{"task": dataset name, "entry": the dataset entry}`` (JSON round-tripped entries
    are fine). The answer is the content of the last ``<answer_tag>...</answer_tag>`` (default "answer"),
    or the whole stripped completion when ``answer_tag`` is None. ``correct`` is ``score >= threshold``.
    A missing tag scores 0.0 with ``info["reason"] = "no answer found"``; an unknown task raises.
    """
    if not isinstance(ground_truth, dict) or "task" not in ground_truth or "entry" not in ground_truth:
        raise ValueError(
            f"ground truth must be {{'task': ..., 'entry': ...}}, got {type(ground_truth).__name__}"
        )
    fn = score_fn(ground_truth["task"])
    answer = tagged(completion, answer_tag) if answer_tag else completion.strip()
    if answer is None:
        return RewardResult(0.0, correct=False, info={"extracted": None, "reason": "no answer found"})
    score = float(fn(answer, ground_truth["entry"]))
    return RewardResult(score, correct=score >= threshold, info={"extracted": answer})
