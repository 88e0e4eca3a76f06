"""``format`` (V-Triune tag reward) and ``length`` (DAPO soft overlong penalty)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rlvr.rewards.types import VERIFIERS, RewardResult

DEFAULT_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


@VERIFIERS.register("format")
def format_reward(
    completion: str,
    ground_truth: Any = None,
    *,
    tags: Sequence[str] = DEFAULT_TAGS,
    weights: float | Sequence[float] | None = None,
) -> RewardResult:
    """Score = sum of ``weights[i]`` over the tags that occur exactly once in the completion.

    V-Triune (arXiv 2505.18129): tags ``<think>``, ``</think>``, ``<answer>``, ``</answer>`` at 0.25 each,
    so a well-formed completion scores 1.0 (the official code counts "<think>\n", "\n</think>\n",
    "\n<answer>\n", "\n</answer>"; pass those as ``tags`` to match it exactly). ``weights`` is one
    weight per tag, a single weight for all,
    or None for ``1 / len(tags)`` each. ``correct`` is None (format says nothing about correctness).
    ``info["present"]`` lists the tags that counted.
    """
    tags = list(tags)
    if weights is None:
        weights = [1.0 / len(tags)] * len(tags)
    elif isinstance(weights, int | float):
        weights = [float(weights)] * len(tags)
    if len(weights) != len(tags):
        raise ValueError(f"{len(weights)} weights for {len(tags)} tags")
    present = [t for t in tags if completion.count(t) == 1]
    score = sum(w for t, w in zip(tags, weights, strict=True) if t in present)
    return RewardResult(float(score), correct=None, info={"present": present})


def overlong_penalty(n: int, max_len: int, cache_len: int) -> float:
    """DAPO (arXiv 2503.14476) soft overlong punishment for a response of ``n`` tokens.

    0 if n <= L_max - L_cache; ((L_max - L_cache) - n) / L_cache if L_max - L_cache < n <= L_max; -1 beyond.
    """
    if not 0 < cache_len <= max_len:
        raise ValueError(f"need 0 < cache_len <= max_len, got cache_len={cache_len}, max_len={max_len}")
    budget = max_len - cache_len
    if n <= budget:
        return 0.0
    if n <= max_len:
        return (budget - n) / cache_len
    return -1.0


@VERIFIERS.register("length")
def length(
    completion: str, ground_truth: Any = None, *, max_len: int, cache_len: int, completion_tokens: int
) -> RewardResult:
    """Score = DAPO soft overlong penalty of ``completion_tokens`` (see ``overlong_penalty``), in [-1, 0].

    ``completion_tokens`` (the completion's length in tokens) is supplied by the router; ``max_len`` is
    L_max and ``cache_len`` L_cache. Meant to be added to an accuracy reward through a "combined" spec.
    ``correct`` is None.
    """
    score = overlong_penalty(int(completion_tokens), int(max_len), int(cache_len))
    return RewardResult(score, correct=None, info={"completion_tokens": int(completion_tokens)})
