"""Behaviour metrics per data_source (V-Triune's tier 3) that the router's metrics do not cover.

- ``reflection_metrics``: the share of responses that reflect (contain one of V-Triune's official 15
  words such as "re-check", "verify", "wait", "yet") and the accuracy of those that do vs. those that do not. V-Triune
  (arXiv 2505.18129) tracks these per data source to watch reflective behaviour grow under RL.
- ``behaviour_metrics``: the same split for any regex, e.g. ``pattern="python"`` for the Spurious
  Rewards paper's code-reasoning rate (answers that reason in Python code).

Pure functions over lists. Keys are ``reward/data_source/<src>/<metric>`` and ``reward/all/<metric>``,
beside ``rollout_metrics``' ones. A rate counts every response; an accuracy counts the responses whose
``correct`` is not None and is absent where there is none.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Sequence

# the official list (One-RL-to-See-Them-All, verl/trainer/ppo/metric_utils.py)
OFFICIAL_REFLECTION_WORDS: tuple[str, ...] = (
    "re-check",
    "re-evaluate",
    "re-examine",
    "re-think",
    "recheck",
    "reevaluate",
    "reexamine",
    "reevaluation",
    "rethink",
    "check again",
    "think again",
    "try again",
    "verify",
    "wait",
    "yet",
)
DEFAULT_REFLECTION_WORDS = OFFICIAL_REFLECTION_WORDS
# a broader list (hesitation and self-correction words), rlvr's default before the official one
EXTENDED_REFLECTION_WORDS: tuple[str, ...] = (
    "re-check",
    "recheck",
    "re-think",
    "rethink",
    "re-examine",
    "re-evaluate",
    "verify",
    "double-check",
    "wait",
    "however",
    "let me check",
    "mistake",
    "reconsider",
    "alternatively",
    "hmm",
)


@functools.lru_cache(maxsize=32)
def reflection_pattern(words: tuple[str, ...], whole_words: bool = True) -> re.Pattern[str]:
    """One case-insensitive regex for ``words``: whole words only ("wait" does not match "awaiting"),
    and a space or hyphen inside a word matches any whitespace run or a hyphen ("double-check" matches
    "double check"; "re-check" does not match "recheck", which is its own entry). ``whole_words=False``
    matches anywhere, as the official V-Triune code does (``word in text.lower()``: "yet" in "yeti")."""
    if not words or any(not w.strip() for w in words):
        raise ValueError(f"reflection words must be non-empty strings, got {words!r}")
    parts = []
    for w in sorted({w.strip().lower() for w in words}, key=len, reverse=True):
        tokens = [re.escape(t) for t in re.split(r"[\s-]+", w) if t]
        parts.append(r"(?:\s+|-)".join(tokens))
    if not whole_words:
        return re.compile("|".join(re.escape(w.strip().lower()) for w in words), re.IGNORECASE)
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _split_metrics(
    hits: Sequence[bool],
    data_sources: Sequence[str],
    correct: Sequence[bool | None],
    rate_key: str,
    hit_key: str,
    miss_key: str,
) -> dict[str, float]:
    if not len(hits) == len(data_sources) == len(correct):
        raise ValueError(
            f"texts, data_sources and correct must have one entry per response: "
            f"{len(hits)}, {len(data_sources)}, {len(correct)}"
        )
    groups: dict[str, list[int]] = defaultdict(list)
    for i, src in enumerate(data_sources):
        groups[f"data_source/{src}"].append(i)
        groups["all"].append(i)
    out: dict[str, float] = {}
    for key, idx in groups.items():
        values = {
            rate_key: _mean([float(hits[i]) for i in idx]),
            hit_key: _mean([float(correct[i]) for i in idx if hits[i] and correct[i] is not None]),
            miss_key: _mean([float(correct[i]) for i in idx if not hits[i] and correct[i] is not None]),
        }
        out.update({f"reward/{key}/{k}": v for k, v in values.items() if v is not None})
    return out


def reflection_metrics(
    texts: Sequence[str],
    data_sources: Sequence[str],
    correct: Sequence[bool | None],
    words: Sequence[str] = DEFAULT_REFLECTION_WORDS,
    whole_words: bool = True,
) -> dict[str, float]:
    """``reflection_ratio`` (share of responses with at least one of ``words``), ``reflection_accuracy``
    and ``no_reflection_accuracy`` per data_source and over all (see the module doc). ``whole_words``:
    see ``reflection_pattern`` (False reproduces the official substring match)."""
    pattern = reflection_pattern(tuple(words), whole_words)
    hits = [pattern.search(t) is not None for t in texts]
    return _split_metrics(
        hits, data_sources, correct, "reflection_ratio", "reflection_accuracy", "no_reflection_accuracy"
    )


def behaviour_metrics(
    texts: Sequence[str],
    data_sources: Sequence[str],
    correct: Sequence[bool | None],
    pattern: str | re.Pattern[str],
    name: str,
) -> dict[str, float]:
    """``<name>_rate`` (share of responses where ``pattern`` is found; a string is a case-insensitive
    regex), ``<name>_accuracy`` and ``no_<name>_accuracy`` per data_source and over all."""
    if not name or "/" in name:
        raise ValueError(f"behaviour name must be non-empty and contain no '/', got {name!r}")
    regex = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
    hits = [regex.search(t) is not None for t in texts]
    return _split_metrics(
        hits, data_sources, correct, f"{name}_rate", f"{name}_accuracy", f"no_{name}_accuracy"
    )
