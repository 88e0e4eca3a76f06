"""Persuadees: who the persuader talks to, and how its stance S in [0, 1] (1: fully agrees with Q) is read.

A persuadee is anything with ``start(topic)``, ``reply(argument) -> text``, ``stance() -> S`` and
``attitude(statement) -> 0..4`` (Disagree .. Agree). Two kinds:

- :class:`SimulatedPersuadee` (here): offline and deterministic given its seed. It holds the topic's hidden
  weighted concerns; an argument that uses a keyword of a held concern that no earlier argument used
  resolves part of it, with diminishing returns (``r_c = 1 - (1 - step)^h_c`` after ``h_c`` distinct
  keywords); repeating a keyword, naming a concern it does not hold, or off-topic text moves nothing.
  ``S = s0 + (1 - s0) * sum_c w_c r_c``. Its reply voices one remaining concern.
- :class:`rlvr.envs.tomap.lm_persuadee.LMPersuadee`: any chat model, prompted as in the official code.
"""

from __future__ import annotations

import random
import re
from typing import Protocol

from rlvr.envs.tomap.topics import THEMES, Topic

WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    """Lower-case alphabetic words of ``text``, in order."""
    return WORD.findall(text.lower())


class Persuadee(Protocol):
    def start(self, topic: Topic) -> None: ...

    def reply(self, argument: str) -> str: ...

    def stance(self) -> float: ...

    def attitude(self, statement: str) -> int: ...


class SimulatedPersuadee:
    """The offline persuadee. ``step``: the share of a concern one new keyword resolves (diminishing);
    ``max_points``: new keywords counted per argument (the first ones, in order); ``compact``: replies of
    a few characters (``but price?``) for a character-level model; ``seed``: which concern it voices."""

    def __init__(self, step: float = 0.6, max_points: int = 2, compact: bool = False, seed: int = 0) -> None:
        if not 0.0 < step <= 1.0 or max_points < 1:
            raise ValueError(
                f"simulated persuadee: step in (0, 1] and max_points >= 1, got {step}, {max_points}"
            )
        self.step, self.max_points, self.compact, self.seed = step, max_points, compact, seed
        self.topic: Topic | None = None
        self.used: dict[str, set[str]] = {}
        self.turn = 0

    def start(self, topic: Topic) -> None:
        if not topic.held:
            raise ValueError(
                f"topic {topic.claim!r} has no held concerns: the simulated persuadee needs a synthetic topic"
            )
        self.topic, self.used, self.turn = topic, {t: set() for t in topic.held}, 0

    def resolution(self, theme: str) -> float:
        """How far concern ``theme`` is resolved, in [0, 1); 0 for one the persuadee does not hold."""
        if theme not in self.used:
            return 0.0
        return 1.0 - (1.0 - self.step) ** len(self.used[theme])

    def stance(self) -> float:
        topic = self._topic()
        return topic.s0 + (1.0 - topic.s0) * sum(w * self.resolution(t) for t, w in topic.held.items())

    def hear(self, argument: str) -> list[tuple[str, str]]:
        """Take in ``argument``; return the (theme, keyword) points that moved the stance."""
        points: list[tuple[str, str]] = []
        for word in dict.fromkeys(words(argument)):
            theme = next((t for t in self.used if word in THEMES[t] and word not in self.used[t]), None)
            if theme is not None and len(points) < self.max_points:
                points.append((theme, word))
        for theme, word in points:
            self.used[theme].add(word)
        return points

    def reply(self, argument: str) -> str:
        self.hear(argument)
        self.turn += 1
        topic = self._topic()
        left = {t: w * (1.0 - self.resolution(t)) for t, w in topic.held.items()}
        rng = random.Random(f"persuadee-{self.seed}-{topic.index}-{self.turn}")
        theme = rng.choices(sorted(left), weights=[left[t] for t in sorted(left)])[0]
        keyword = next((k for k in THEMES[theme] if k not in self.used[theme]), theme)
        if self.compact:
            return f"but {keyword}?"
        return f"I am not convinced. What about {keyword}? {topic.concern(theme).text.capitalize()}."

    def attitude(self, statement: str) -> int:
        """0..4 towards a counterclaim: a held concern 4 * (1 - r) rounded; one it does not hold 1
        (partly disagree); a statement that names no theme 2 (neutral)."""
        said = set(words(statement))
        themes = [t for t, kws in THEMES.items() if said & set(kws)]
        if not themes:
            return 2
        held = [t for t in themes if t in self.used]
        if not held:
            return 1
        return round(4.0 * (1.0 - max(self.resolution(t) for t in held)))

    def _topic(self) -> Topic:
        if self.topic is None:
            raise RuntimeError("simulated persuadee: call start(topic) first")
        return self.topic
