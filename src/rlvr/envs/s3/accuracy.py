"""Answer accuracy as in s3: a gold answer appears as a normalised token span of the output (SQuAD
normalisation: lower case, no punctuation, no articles), or exact match for the EM ablation; an optional
LLM judge decides the outputs that match no span."""

from __future__ import annotations

import re
import string
from collections.abc import Callable

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)

Judge = Callable[[str, str, list[str]], bool]
"""``judge(question, prediction, answers) -> correct``: an LLM judge for outputs no span matched."""


def normalize(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def span_match(prediction: str, answers: list[str]) -> bool:
    """Whether some normalised answer is a contiguous token span of the normalised prediction."""
    tokens = normalize(prediction).split()
    for answer in answers:
        gold = normalize(answer).split()
        if gold and any(tokens[i : i + len(gold)] == gold for i in range(len(tokens) - len(gold) + 1)):
            return True
    return False


def exact_match(prediction: str, answers: list[str]) -> bool:
    return any(normalize(prediction) == normalize(a) for a in answers)


def accuracy(
    prediction: str, answers: list[str], question: str = "", mode: str = "span", judge: Judge | None = None
) -> float:
    """1.0 or 0.0. ``mode``: ``span`` (the paper's) or ``em``; ``judge`` is asked when the match fails."""
    if mode not in ("span", "em"):
        raise ValueError(f"accuracy mode {mode!r}: expected 'span' or 'em'")
    hit = span_match(prediction, answers) if mode == "span" else exact_match(prediction, answers)
    if not hit and judge is not None:
        hit = judge(question, prediction, answers)
    return float(hit)
