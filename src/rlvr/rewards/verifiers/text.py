"""``exact_match`` and ``f1``: SQuAD-style short-answer scoring."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

from rlvr.rewards.extract import last_boxed, tagged
from rlvr.rewards.types import VERIFIERS, RewardResult

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation, drop articles (a, an, the), collapse whitespace."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 between normalised strings (1.0 if both are empty, 0.0 if only one is)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _references(ground_truth: Any) -> list[str]:
    refs = [ground_truth] if isinstance(ground_truth, str) else list(ground_truth or [])
    if not refs or not all(isinstance(r, str) for r in refs):
        raise ValueError(
            f"ground truth must be a string or a non-empty list of strings, got {ground_truth!r}"
        )
    return refs


def _answer(completion: str, answer_tag: str | None, boxed: bool) -> str | None:
    """The tagged / boxed answer when asked for (None if absent), else the whole stripped completion."""
    if answer_tag:
        answer = tagged(completion, answer_tag)
        if answer is not None or not boxed:
            return answer
    if boxed:
        return last_boxed(completion)
    return completion.strip()


@VERIFIERS.register("exact_match")
def exact_match(
    completion: str, ground_truth: Any, *, answer_tag: str | None = None, boxed: bool = False
) -> RewardResult:
    """Score 1.0 if the normalised answer equals any normalised reference, else 0.0.

    ``ground_truth`` is a string or a list of acceptable strings. The answer is the content of
    ``<answer_tag>`` if ``answer_tag`` is set, else of the last ``\\boxed{}`` if ``boxed``, else the whole
    stripped completion (with both set, the tag wins and the box is the fallback). Normalisation as in
    SQuAD: lowercase, no punctuation, no articles, single spaces. A requested tag/box that is missing:
    score 0.0, correct False, ``info["reason"] = "no answer found"``.
    """
    refs = _references(ground_truth)
    answer = _answer(completion, answer_tag, boxed)
    if answer is None:
        return RewardResult(0.0, correct=False, info={"extracted": None, "reason": "no answer found"})
    hit = any(normalize_answer(answer) == normalize_answer(r) for r in refs)
    return RewardResult(float(hit), correct=hit, info={"extracted": answer})


@VERIFIERS.register("f1")
def f1(
    completion: str,
    ground_truth: Any,
    *,
    answer_tag: str | None = None,
    boxed: bool = False,
    threshold: float | None = None,
) -> RewardResult:
    """Score = max over references of the SQuAD token F1 with the answer (in [0, 1]).

    Answer extraction and normalisation as in ``exact_match``. ``correct`` is ``score == 1`` or, when
    ``threshold`` is set, ``score >= threshold``. A requested tag/box that is missing scores 0.0 with
    ``info["reason"] = "no answer found"``.
    """
    refs = _references(ground_truth)
    answer = _answer(completion, answer_tag, boxed)
    if answer is None:
        return RewardResult(0.0, correct=False, info={"extracted": None, "reason": "no answer found"})
    score = max(token_f1(answer, r) for r in refs)
    correct = score >= threshold if threshold is not None else score == 1.0
    return RewardResult(score, correct=correct, info={"extracted": answer})
