"""Spurious-reward controls (Spurious Rewards, arXiv 2506.10947): ``random``, ``incorrect``,
``format_only``, ``contains``. Each pays 0/1 without (or against) the true answer; use them as controls.

To still log accuracy against the true answer, wrap one in a "combined" spec with a weight-0 ``math``
component: the router takes ``correct`` from the first component that has one.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from rlvr.rewards.extract import all_boxed, extract_answer
from rlvr.rewards.types import VERIFIERS, RewardResult
from rlvr.rewards.verifiers.math import answer_matches, parse_gold


def uniform_from_key(sample_key: str, seed: int = 0) -> float:
    """A number in [0, 1) determined by ``(seed, sample_key)`` (SHA-256; the same on every machine)."""
    digest = hashlib.sha256(f"{seed}:{sample_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@VERIFIERS.register("random")
def random_reward(
    completion: str, ground_truth: Any = None, *, sample_key: str, gamma: float = 0.5, seed: int = 0
) -> RewardResult:
    """Score 1.0 with probability ``gamma``, else 0.0: Bernoulli(gamma) drawn from a hash of ``(seed,
    sample_key)``, so the same key (sample id + completion index, passed by the router) always gets the
    same reward. Independent of the completion. ``correct`` is None."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    return RewardResult(float(uniform_from_key(sample_key, seed) < gamma), correct=None)


@VERIFIERS.register("incorrect")
def incorrect(
    completion: str,
    ground_truth: Any = None,
    *,
    wrong_label: Any = None,
    answer_tag: str | None = None,
    timeout_s: int | None = 5,
) -> RewardResult:
    """Score 1.0 if the final answer is math-equivalent to the (wrong) label, else 0.0.

    The label is ``wrong_label`` when given, else ``ground_truth`` (a dataset whose ground truth was
    replaced by the wrong majority answer). When ``wrong_label`` is given and ``ground_truth`` is the true
    answer, ``correct`` is equivalence with the true answer; otherwise None. Extraction and equivalence
    as in ``math``; no answer found scores 0.0 with reason "no answer found".
    """
    label = ground_truth if wrong_label is None else wrong_label
    if label is None:
        raise ValueError("incorrect needs a wrong label in params['wrong_label'] or in ground_truth")
    answer, method = extract_answer(completion, answer_tag=answer_tag)
    if answer is None:
        return RewardResult(0.0, correct=None, info={"extracted": None, "reason": "no answer found"})
    hit, _ = answer_matches(answer, parse_gold(label, timeout_s), timeout_s)
    correct = None
    if wrong_label is not None and ground_truth is not None:
        correct, _ = answer_matches(answer, parse_gold(ground_truth, timeout_s), timeout_s)
    return RewardResult(float(hit), correct=correct, info={"extracted": answer, "method": method})


@VERIFIERS.register("format_only")
def format_only(completion: str, ground_truth: Any = None) -> RewardResult:
    """Score 1.0 if the completion has at least one ``\\boxed{...}`` with non-blank content, else 0.0.
    ``correct`` is None."""
    return RewardResult(float(any(b.strip() for b in all_boxed(completion))), correct=None)


@VERIFIERS.register("contains")
def contains(
    completion: str, ground_truth: Any = None, *, pattern: str, regex: bool = False, ignore_case: bool = False
) -> RewardResult:
    """Score 1.0 if the completion contains ``pattern`` (a substring, or a regular expression searched
    anywhere when ``regex``), else 0.0; e.g. ``pattern="python"``, the paper's code-reasoning reward.
    ``correct`` is None."""
    if regex:
        hit = re.search(pattern, completion, re.IGNORECASE if ignore_case else 0) is not None
    elif ignore_case:
        hit = pattern.lower() in completion.lower()
    else:
        hit = pattern in completion
    return RewardResult(float(hit), correct=None)
