"""Synthetic debate topics for the offline persuadee: a claim Q, its negation, and hidden concerns.

A topic is ``<subjects> should <policy>`` ("schools should ban phones"). Each topic draws a few candidate
concerns (counterclaims) from a fixed set of themes, each with a plausibility (the public prior a
counterclaim predictor sees), and the persuadee privately holds some of them, drawn in proportion to
plausibility, with hidden weights. A theme has three keywords (``cost``, ``price``, ``budget``): an
argument that uses one addresses the concern.

Everything is a pure function of ``(topic index, world seed)``, so a topic reads the same in every process.
Topics whose index is a multiple of ``HELD_OUT_EVERY`` are held out of training.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

THEMES: dict[str, tuple[str, str, str]] = {
    "cost": ("cost", "price", "budget"),
    "jobs": ("jobs", "work", "wages"),
    "safety": ("safety", "risk", "harm"),
    "health": ("health", "illness", "doctors"),
    "freedom": ("freedom", "choice", "rights"),
    "privacy": ("privacy", "data", "tracking"),
    "fairness": ("fairness", "equality", "bias"),
    "nature": ("nature", "pollution", "climate"),
    "time": ("time", "delays", "speed"),
    "quality": ("quality", "standards", "skill"),
    "crime": ("crime", "theft", "police"),
    "culture": ("culture", "tradition", "history"),
}
"""Theme -> its three keywords; the first is the theme's name."""

SUBJECTS = (
    "schools",
    "cities",
    "hospitals",
    "farms",
    "banks",
    "airlines",
    "shops",
    "clubs",
    "towns",
    "firms",
)
POLICIES = (
    "ban phones",
    "tax sugar",
    "use robots",
    "go remote",
    "raise fees",
    "cut hours",
    "close early",
    "share data",
    "ban cars",
    "hire locally",
    "go solar",
    "drop grades",
)
HELD_OUT_EVERY = 5
"""Topics whose index is a multiple of this are the held-out split (24 of 120)."""


@dataclass(frozen=True)
class Concern:
    """A counterclaim the persuadee may hold: its theme, keywords, sentence and plausibility (prior)."""

    theme: str
    keywords: tuple[str, ...]
    text: str
    plausibility: float


@dataclass(frozen=True)
class Topic:
    """A debate topic: claim Q (``claim``), not-Q (``negation``), the candidate concerns (ranked by
    plausibility, highest first), the persuadee's held concerns (theme -> weight, summing to 1) and
    its initial stance ``s0`` in [0, 1] (it starts against Q)."""

    index: int
    claim: str
    negation: str
    candidates: tuple[Concern, ...]
    held: dict[str, float]
    s0: float

    def concern(self, theme: str) -> Concern:
        return next(c for c in self.candidates if c.theme == theme)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Topic:
        try:
            candidates = tuple(
                Concern(c["theme"], tuple(c["keywords"]), c["text"], float(c["plausibility"]))
                for c in d["candidates"]
            )
            return Topic(
                int(d["index"]), d["claim"], d["negation"], candidates, dict(d["held"]), float(d["s0"])
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"a tomap topic needs index, claim, negation, candidates, held, s0; got {sorted(d)}: {exc}"
            ) from exc


def num_topics() -> int:
    return len(SUBJECTS) * len(POLICIES)


def topic_indices(split: str) -> list[int]:
    """Indices of the ``train`` or ``heldout`` topics (disjoint)."""
    if split not in ("train", "heldout"):
        raise ValueError(f"tomap topic split must be 'train' or 'heldout', got {split!r}")
    held = split == "heldout"
    return [i for i in range(num_topics()) if (i % HELD_OUT_EVERY == 0) == held]


def make_topic(index: int, world_seed: int = 0, candidates: int = 6, held: int = 3) -> Topic:
    """Topic ``index`` of world ``world_seed``: ``candidates`` concerns, ``held`` of them held."""
    if not 0 <= index < num_topics():
        raise ValueError(f"tomap topic index must be in [0, {num_topics()}), got {index}")
    if not 1 <= held <= candidates <= len(THEMES):
        raise ValueError(
            f"tomap topic: need 1 <= held ({held}) <= candidates ({candidates}) <= {len(THEMES)}"
        )
    rng = random.Random(f"tomap-{world_seed}-{index}")
    subjects, policy = SUBJECTS[index // len(POLICIES)], POLICIES[index % len(POLICIES)]
    claim, negation = f"{subjects} should {policy}", f"{subjects} should not {policy}"
    themes = rng.sample(sorted(THEMES), candidates)
    weights = sorted((rng.uniform(0.2, 1.0) for _ in themes), reverse=True)
    total = sum(weights)
    concerns = tuple(
        Concern(t, THEMES[t], f"if {subjects} {policy}, {t} suffers", round(w / total, 4))
        for t, w in zip(themes, weights, strict=True)
    )
    pool, chosen = list(concerns), []
    for _ in range(held):  # drawn in proportion to plausibility: the prior is informative, not exact
        c = rng.choices(pool, weights=[c.plausibility for c in pool])[0]
        pool.remove(c)
        chosen.append(c.theme)
    raw = [rng.uniform(0.5, 1.5) for _ in chosen]
    held_weights = {t: round(w / sum(raw), 4) for t, w in zip(chosen, raw, strict=True)}
    return Topic(index, claim, negation, concerns, held_weights, round(rng.uniform(0.1, 0.3), 4))
