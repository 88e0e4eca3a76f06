"""``math``: symbolic equivalence of the final answer with the ground truth (math-verify)."""

from __future__ import annotations

import threading
from typing import Any

from rlvr.rewards.extract import extract_answer, strip_math_delimiters
from rlvr.rewards.types import VERIFIERS, RewardResult


def _timeout(timeout_s: int | None) -> int | None:
    """math-verify's timeout uses ``signal.alarm``, which only works in the main thread: elsewhere, None.

    Off the main thread the caller bounds the time instead (the router's process pool kills a worker that
    runs past its limit).
    """
    if timeout_s is None or threading.current_thread() is not threading.main_thread():
        return None
    return max(1, int(timeout_s))


def _parse(text: str, timeout: int | None, raise_on_error: bool) -> list[Any]:
    from math_verify import parse
    from math_verify.errors import TimeoutException

    try:
        parsed = parse("\\boxed{" + text + "}", parsing_timeout=timeout, raise_on_error=raise_on_error)
        if not parsed:
            parsed = parse(text, parsing_timeout=timeout, raise_on_error=raise_on_error)
    except TimeoutException as exc:  # a BaseException in math-verify: make it an ordinary error
        raise TimeoutError(f"math-verify parsing timed out after {timeout} s") from exc
    return parsed


def parse_gold(ground_truth: Any, timeout_s: int | None = 5) -> list[Any]:
    """Parse a ground-truth answer (str or number); a gold answer that does not parse is a data error."""
    if ground_truth is None or not str(ground_truth).strip():
        raise ValueError(f"empty ground truth {ground_truth!r}")
    gold_text = strip_math_delimiters(str(ground_truth))
    gold = _parse(gold_text, _timeout(timeout_s), raise_on_error=True)
    if not gold:
        raise ValueError(f"math-verify cannot parse the ground truth {gold_text!r}")
    return gold


def answer_matches(answer: str, gold: list[Any], timeout_s: int | None = 5) -> tuple[bool, str | None]:
    """Whether ``answer`` (already extracted) is equivalent to the parsed ``gold``.

    Returns ``(equal, reason)``: ``reason`` explains a False that comes from an unparsable answer. A
    math-verify timeout raises TimeoutError (reported as a verifier error, not as a wrong answer).
    """
    from math_verify import verify
    from math_verify.errors import TimeoutException

    timeout = _timeout(timeout_s)
    try:
        pred = _parse(strip_math_delimiters(answer), timeout, raise_on_error=True)
    except TimeoutError:
        raise
    except Exception as exc:  # the model's answer broke the parser: a wrong answer, not a verifier failure
        return False, f"unparsable answer ({type(exc).__name__})"
    if not pred:
        return False, "unparsable answer"
    try:
        return bool(verify(gold, pred, timeout_seconds=timeout, raise_on_error=True)), None
    except TimeoutException as exc:
        raise TimeoutError(f"math-verify comparison timed out after {timeout} s") from exc


@VERIFIERS.register("math")
def math_verifier(
    completion: str, ground_truth: Any, *, answer_tag: str | None = None, timeout_s: int | None = 5
) -> RewardResult:
    """Score 1.0 if the final answer is mathematically equivalent to ``ground_truth``, else 0.0.

    The answer is the content of ``<answer_tag>...</answer_tag>`` when ``answer_tag`` is set and present,
    else of the last ``\\boxed{...}`` (nested braces), else the text after the last ``#### `` (GSM8K).
    Equivalence is math-verify's ``verify(parse(gold), parse(answer))``: fractions, decimals, LaTeX,
    units, percentages, intervals, sets, equations ``x = 5``. No answer found: score 0.0, correct False,
    ``info["reason"] = "no answer found"`` (a wrong answer, not an error). ``timeout_s`` bounds each
    math-verify call in the main thread (signal based); elsewhere the caller must bound the time. A
    timeout or an unparsable ground truth raises, so the router reports the sample as errored.
    ``info["extracted"]`` holds the extracted answer and ``info["method"]`` how it was found.
    """
    gold = parse_gold(ground_truth, timeout_s)
    answer, method = extract_answer(completion, answer_tag=answer_tag)
    if answer is None:
        return RewardResult(0.0, correct=False, info={"extracted": None, "reason": "no answer found"})
    equal, reason = answer_matches(answer, gold, timeout_s)
    info: dict[str, Any] = {"extracted": answer, "method": method}
    if reason:
        info["reason"] = reason
    return RewardResult(float(equal), correct=equal, info=info)
