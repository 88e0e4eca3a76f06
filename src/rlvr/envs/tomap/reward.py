"""The ToMAP turn reward, as in the official code (ulab-uiuc/ToMAP ``verl/utils/rewards.py``):

    r_turn = r_persuade + 0.1 * (r_tag + r_format + r_repeat + r_overlength)

- ``r_persuade``: the stance change of the turn normalised by the room left to move:
  (S' - S) / (1 - S) when S rises, (S' - S) / S when it falls (1 / 0 at the extremes), optionally clipped
  at 0 (``keep_negative``) and raised to ``curve_exp``.
- ``r_tag``: 1/4 for each of ``<thought>``, ``</thought>``, ``<argument>``, ``</argument>`` present once.
- ``r_format``: 1 when the whole action is ``<thought>...</thought> <argument>...</argument>``.
- ``r_repeat``: min(0, threshold - max(self-repetition, overlap with earlier arguments)) over word n-grams.
- ``r_overlength``: -min(2 * overrun / cap, 1) when the argument has more than ``cap`` tokens.
"""

from __future__ import annotations

import re

FORMAT = re.compile(r"^<thought>.*?</thought>\s*<argument>.*?</argument>$", re.DOTALL | re.MULTILINE)
AUX_TERMS = ("tag", "format", "repeat", "overlength")


def persuasion_gain(new: float, old: float, keep_negative: bool = True, curve_exp: float = 1.0) -> float:
    """The stance change from ``old`` to ``new`` over the room left to move in its direction."""
    if new > old:
        gain = 1.0 if old > 0.999 else (new - old) / (1.0 - old)
    else:
        if old < 0.001:
            return 0.0
        gain = (new - old) / old
    if not keep_negative:
        gain = max(0.0, gain)
    return gain**curve_exp if gain >= 0 else -((-gain) ** curve_exp)


def tag_reward(action: str, tags: tuple[str, ...] = ("thought", "argument")) -> float:
    """1 / (2 * len(tags)) for each opening and each closing tag that appears exactly once."""
    part = 1.0 / (2 * len(tags))
    return sum(part * ((action.count(f"<{t}>") == 1) + (action.count(f"</{t}>") == 1)) for t in tags)


def format_reward(action: str) -> float:
    return 1.0 if FORMAT.match(action.strip()) else 0.0


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """Word n-grams of ``text`` (lower-cased, split on whitespace)."""
    toks = text.lower().split()
    return [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]


def repetition_reward(argument: str, previous: list[str], n: int = 8, threshold: float = 0.1) -> float:
    """min(0, threshold - max(1 - distinct / total n-grams of ``argument``, share of its distinct n-grams
    seen in ``previous`` arguments)); 0 for an argument shorter than ``n`` words."""
    grams = ngrams(argument, n)
    if not grams:
        return 0.0
    mine = set(grams)
    self_rep = 1.0 - len(mine) / len(grams)
    seen = {g for p in previous for g in ngrams(p, n)}
    overlap = len(mine & seen) / len(mine) if seen else 0.0
    return min(0.0, threshold - max(self_rep, overlap))


def overlength_reward(n_tokens: int, cap: int) -> float:
    """0 up to ``cap`` tokens; -2 * overrun / cap beyond, down to -1 at 50% over."""
    if n_tokens <= cap:
        return 0.0
    return -min(2.0 * (n_tokens - cap) / cap, 1.0)


def turn_reward(gain: float, aux: dict[str, float], aux_weight: float = 0.1) -> float:
    """r_persuade + aux_weight * (sum of the tag, format, repetition and overlength terms)."""
    missing = [k for k in AUX_TERMS if k not in aux]
    if missing:
        raise ValueError(f"turn_reward: missing terms {missing} (have {sorted(aux)})")
    return gain + aux_weight * sum(aux[k] for k in AUX_TERMS)
