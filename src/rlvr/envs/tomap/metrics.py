"""Dialogue metrics of the persuader's arguments: repetition between turns and distinct-n."""

from __future__ import annotations

from rlvr.envs.tomap.reward import ngrams


def repetition_rate(arguments: list[str], n: int = 2) -> float:
    """Mean, over the persuader's turns after the first, of the share of the turn's distinct word n-grams
    already used in its earlier turns; 0 with fewer than two turns that have an n-gram."""
    shares = []
    seen: set[tuple[str, ...]] = set()
    for k, argument in enumerate(arguments):
        mine = set(ngrams(argument, n))
        if k > 0 and mine:
            shares.append(len(mine & seen) / len(mine))
        seen |= mine
    return sum(shares) / len(shares) if shares else 0.0


def distinct_n(arguments: list[str], n: int = 2) -> float:
    """Distinct word n-grams over all n-grams of the persuader's turns (each turn's n-grams on its own)."""
    grams = [g for a in arguments for g in ngrams(a, n)]
    return len(set(grams)) / len(grams) if grams else 0.0
