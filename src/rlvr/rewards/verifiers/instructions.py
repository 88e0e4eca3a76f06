"""``constraints``: instruction following with checkable constraints (IFEval-style, for ProRL's mix).

ProRL (arXiv 2505.24864) trains on 10K instruction-following prompts scored by rules. Each sample here
carries its constraints as the ground truth, a list of ``{"type": ..., <arguments>}``; the score is the
fraction of constraints the response satisfies (a continuous reward, as ProRL's non-math domains use) and
``correct`` is whether it satisfies all of them.

Constraint types (``CHECKS``): ``lowercase``, ``uppercase``, ``include_word`` (``word``, ``count`` =
minimum occurrences, whole words, case-insensitive), ``exclude_word`` (``word``), ``max_words`` / ``min_words``
(``n``), ``starts_with`` / ``ends_with`` (``text``), ``no_commas``, ``bullets`` (``n`` lines starting with
``* `` or ``- ``), ``quoted`` (the whole response wrapped in double quotes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rlvr.rewards.types import VERIFIERS, RewardResult


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9']+", text)


def _count_word(text: str, word: str) -> int:
    return len(re.findall(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE))


def _bullets(text: str) -> int:
    return sum(1 for line in text.splitlines() if re.match(r"\s*[*-]\s", line))


CHECKS: dict[str, Callable[..., bool]] = {
    "lowercase": lambda t: t == t.lower() and any(c.isalpha() for c in t),
    "uppercase": lambda t: t == t.upper() and any(c.isalpha() for c in t),
    "include_word": lambda t, word, count=1: _count_word(t, word) >= count,
    "exclude_word": lambda t, word: _count_word(t, word) == 0,
    "max_words": lambda t, n: len(_words(t)) <= n,
    "min_words": lambda t, n: len(_words(t)) >= n,
    "starts_with": lambda t, text: t.startswith(text),
    "ends_with": lambda t, text: t.endswith(text),
    "no_commas": lambda t: "," not in t,
    "bullets": lambda t, n: _bullets(t) == n,
    "quoted": lambda t: len(t) >= 2 and t[0] == '"' and t[-1] == '"',
}
"""Constraint type -> check(stripped response, **arguments)."""


def response_text(completion: str, strip_think: bool = True) -> str:
    """The part of the completion that answers: after the last ``</think>`` when ``strip_think``, stripped."""
    if strip_think and "</think>" in completion:
        completion = completion.rsplit("</think>", 1)[1]
    return completion.strip()


def check_constraint(text: str, constraint: dict[str, Any]) -> bool:
    """Whether ``text`` satisfies one ``{"type": ..., **arguments}`` constraint; unknown types raise."""
    args = {k: v for k, v in constraint.items() if k != "type"}
    kind = constraint.get("type")
    if kind not in CHECKS:
        raise ValueError(f"unknown constraint type {kind!r}; known: {', '.join(sorted(CHECKS))}")
    return bool(CHECKS[kind](text, **args))


@VERIFIERS.register("constraints")
def constraints(completion: str, ground_truth: Any, *, strip_think: bool = True) -> RewardResult:
    """Score = fraction of the constraints in ``ground_truth`` (a non-empty list of constraint dicts) that
    the response satisfies; ``correct`` = all of them. A ``<think>...</think>`` block is ignored when
    ``strip_think``. ``info["failed"]`` lists the types of the unmet constraints."""
    if not isinstance(ground_truth, list) or not ground_truth:
        raise ValueError(f"ground truth must be a non-empty list of constraints, got {ground_truth!r}")
    text = response_text(completion, strip_think)
    met = [check_constraint(text, c) for c in ground_truth]
    failed = [c["type"] for c, ok in zip(ground_truth, met, strict=True) if not ok]
    return RewardResult(sum(met) / len(met), correct=not failed, info={"failed": failed})
