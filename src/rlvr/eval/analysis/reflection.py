"""Reflection words in traces (RaML's "wait", "however", ...): how often, where, with what accuracy, and
how much the answer NLL moves across them compared with an average token.

RaML's measure (the official notebook): along a per-token confidence curve L(j), an average token moves
the loss by |L(j) - L(j-1)| / L(j-1); a reflection word spanning trace tokens [a, b) moves it by
|L(b+1) - L(a)| / L(a), from the prefix just before the word to the prefix one token past it (the
notebook's indexing). Words are found in the decoded text (word boundaries, case as listed) rather than
as one tokenisation of the word, so ``" Wait"`` and ``"Wait"`` both count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from statistics import mean

DEFAULT_WORDS = (
    "wait",
    "Wait",
    "retry",
    "Retry",
    "recheck",
    "Recheck",
    "however",
    "However",
    "alternatively",
    "Alternatively",
)
"""The official list: five words, each in lower case and capitalised."""


def word_spans(token_texts: Sequence[str], words: Sequence[str]) -> list[tuple[str, int, int]]:
    """(word, first token, one past the last token) of each occurrence, in trace order."""
    starts, pos = [], 0
    for piece in token_texts:
        starts.append(pos)
        pos += len(piece)
    text = "".join(token_texts)

    def token_at(char: int) -> int:  # the token that holds character `char`
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= char:
                lo = mid
            else:
                hi = mid - 1
        return lo

    spans = []
    for word in words:
        for m in re.finditer(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", text):
            spans.append((word, token_at(m.start()), token_at(m.end() - 1) + 1))
    return sorted(spans, key=lambda s: s[1])


def reflection_counts(
    token_texts: Sequence[Sequence[str]], correct: Sequence[bool], words: Sequence[str] = DEFAULT_WORDS
) -> dict:
    """Per-trace counts and positions, rate per 1,000 tokens, and accuracy with and without any word."""
    per_trace, positions = [], []
    for texts in token_texts:
        spans = word_spans(texts, words)
        per_trace.append(len(spans))
        positions += [a / max(1, len(texts)) for _, a, _ in spans]
    tokens = sum(len(t) for t in token_texts)
    with_w = [c for c, n in zip(correct, per_trace, strict=True) if n]
    without = [c for c, n in zip(correct, per_trace, strict=True) if not n]
    by_word: dict[str, int] = {}
    for texts in token_texts:
        for w, _, _ in word_spans(texts, words):
            by_word[w] = by_word.get(w, 0) + 1
    return {
        "traces": len(token_texts),
        "per_1k_tokens": 1000 * sum(per_trace) / max(1, tokens),
        "traces_with_word": len(with_w),
        "accuracy_with": mean(with_w) if with_w else None,
        "accuracy_without": mean(without) if without else None,
        "by_word": by_word,
        "per_trace": per_trace,
        "positions": positions,
        "position_histogram": [
            sum(int(p * 10) == i or (i == 9 and p >= 1) for p in positions) for i in range(10)
        ],
    }


def relative_changes(
    nll: Sequence[float], spans: Sequence[tuple[str, int, int]]
) -> tuple[list[float], dict[str, list[float]]]:
    """RaML's per-token and per-word relative changes of L along a per-token curve (``nll[j]`` = L after
    j trace tokens). A step from a zero loss is skipped, as in the notebook; a word whose after-point lies
    past the curve's end is skipped."""
    tokens = [abs(nll[j] - nll[j - 1]) / nll[j - 1] for j in range(1, len(nll)) if nll[j - 1] != 0]
    words: dict[str, list[float]] = {}
    for word, a, b in spans:
        after = b + 1
        if after < len(nll) and nll[a] != 0:
            words.setdefault(word, []).append(abs(nll[after] - nll[a]) / nll[a])
    return tokens, words


def change_summary(tokens: Sequence[float], words: dict[str, list[float]]) -> dict:
    """Mean relative change per token and per reflection word (and how many of each)."""
    out: dict = {"token_mean": mean(tokens) if tokens else None, "tokens": len(tokens), "words": {}}
    for w, xs in sorted(words.items()):
        out["words"][w] = {"mean": mean(xs), "count": len(xs)}
    every = [x for xs in words.values() for x in xs]
    out["word_mean"] = mean(every) if every else None
    return out
