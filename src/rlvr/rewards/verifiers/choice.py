"""``choice``: multiple-choice letter answers (A-J)."""

from __future__ import annotations

import re
from typing import Any

from rlvr.rewards.extract import last_boxed, tagged
from rlvr.rewards.types import VERIFIERS, RewardResult

_TEXT_WRAPPER = re.compile(r"\\text(?:bf)?\s*\{([^{}]*)\}")


def _letter_of(span: str, letters: str) -> str | None:
    """The option letter a short answer span names: ``B``, ``(B)``, ``B.``, ``B) 42``, ``\\text{B}``."""
    span = _TEXT_WRAPPER.sub(r"\1", span).strip().strip("$").strip()
    m = re.match(rf"^\(?([{letters}{letters.lower()}])\)?(?:$|[.:)\s])", span)
    return m.group(1).upper() if m else None


def extract_choice(
    completion: str, letters: str = "ABCDEFGHIJ", answer_tag: str | None = "answer"
) -> str | None:
    """The chosen letter, trying in order: the last ``\\boxed{}``, the last ``<answer_tag>``, the last
    "answer is (B)" / "answer: B" phrase, a completion that is a lone letter ("B", "(B)", "B.")."""
    for span in (last_boxed(completion), tagged(completion, answer_tag) if answer_tag else None):
        if span is not None:
            letter = _letter_of(span, letters)
            if letter:
                return letter
    phrases = re.findall(
        rf"answer\s*(?:is|:)\s*:?\s*(?:option\s*)?\(?([{letters}])\)?(?![A-Za-z])", completion, re.IGNORECASE
    )
    phrases = [p for p in phrases if p.isupper()]  # "answer is a ..." is an article, not option A
    if phrases:
        return phrases[-1]
    return _letter_of(completion, letters) if len(completion.strip()) <= 4 else None


@VERIFIERS.register("choice")
def choice(
    completion: str, ground_truth: Any, *, letters: str = "ABCDEFGHIJ", answer_tag: str | None = "answer"
) -> RewardResult:
    """Score 1.0 if the chosen option letter equals ``ground_truth`` (a letter, "B" or "(B)"), else 0.0.

    The letter comes from ``extract_choice`` (boxed, then ``<answer_tag>``, then "answer is (X)", then a
    lone letter). No letter found: score 0.0, correct False, ``info["reason"] = "no answer found"``.
    """
    gold = _letter_of(str(ground_truth), letters)
    if gold is None:
        raise ValueError(f"ground truth {ground_truth!r} is not one of the letters {letters}")
    letter = extract_choice(completion, letters, answer_tag)
    if letter is None:
        return RewardResult(0.0, correct=False, info={"extracted": None, "reason": "no answer found"})
    hit = letter == gold
    return RewardResult(float(hit), correct=hit, info={"extracted": letter})
