"""An offline synthetic multi-hop world: people, cities and nations, their documents, and 1-hop and
2-hop questions, built so that search is needed.

    Person doc   "Zorvak Tellum\\nZorvak Tellum was born in Quenby. Zorvak Tellum works as a baker."
    City doc     "Quenby\\nQuenby lies in Dravenia. Quenby is known for its bridges."
    1-hop        "Where was Zorvak Tellum born?"                        -> Quenby   (person doc)
    1-hop        "Which nation is Quenby part of?"                      -> Dravenia (city doc)
    2-hop        "Which nation contains the hometown of Zorvak Tellum?" -> Dravenia (person doc -> city doc)

Names are built from syllables and never collide across kinds. First names and surnames are shared
between people, so each person has look-alike distractors ("Zorvak Irmel", "Bela Tellum"). A 2-hop
question names the person only, and its other words ("nation", "hometown") appear in no document, so
top-k retrieval for the raw question returns the person doc and look-alikes, never the city doc that
holds the answer; a query for the bridge entity (the city the person doc names) ranks that city doc
first. ``tests/envs/test_s3_world.py`` checks these three properties with BM25.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rlvr.data.generators import GENERATORS
from rlvr.data.sample import EnvSpec, RewardSpec, Sample

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "tr", "st"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou"]
_CODAS = ["", "n", "r", "l", "s", "m", "x", "th"]
_JOBS = ["baker", "sailor", "weaver", "mason", "scribe", "farmer", "potter", "smith", "healer", "miner"]
_SIGHTS = ["bridges", "towers", "markets", "gardens", "harbours", "mills", "temples", "fountains"]


@dataclass(frozen=True)
class Question:
    """One question with its gold answers, hop count and the doc titles that support it, in order."""

    question: str
    answers: list[str]
    hops: int
    support: list[str]
    bridge: str | None  # the intermediate entity of a 2-hop question


@dataclass(frozen=True)
class World:
    """The documents as (title, body) pairs and every question the world supports."""

    docs: list[tuple[str, str]]
    questions: list[Question]


def _names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        name = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(2))
        if name not in taken and len(name) >= 4:
            taken.add(name)
            out.append(name.capitalize())
    return out


def build_world(
    seed: int = 0, people: int = 200, cities: int = 40, nations: int = 8, filler: bool = True
) -> World:
    """A deterministic world of ``people`` person docs and ``cities`` city docs; questions: each person's
    birthplace (1-hop), each city's nation (1-hop) and each person's nation (2-hop). ``filler=False``
    drops each doc's second sentence (a job, a sight: no fact any question asks), for shorter contexts;
    the facts are the same."""
    rng = random.Random(seed)
    taken: set[str] = set()
    nation_names = _names(rng, nations, taken)
    city_names = _names(rng, cities, taken)
    firsts = _names(rng, max(2, people // 4), taken)
    lasts = _names(rng, max(2, people // 4), taken)
    nation_of = {c: rng.choice(nation_names) for c in city_names}
    docs: list[tuple[str, str]] = []
    questions: list[Question] = []
    for c in city_names:
        sight = f" {c} is known for its {rng.choice(_SIGHTS)}."
        docs.append((c, f"{c} lies in {nation_of[c]}.{sight if filler else ''}"))
        questions.append(Question(f"Which nation is {c} part of?", [nation_of[c]], 1, [c], None))
    full_names: set[str] = set()
    while len(full_names) < people:
        full_names.add(f"{rng.choice(firsts)} {rng.choice(lasts)}")
    for person in sorted(
        sorted(full_names), key=lambda _: rng.random()
    ):  # a set: its order varies by process
        city = rng.choice(city_names)
        job = f" {person} works as a {rng.choice(_JOBS)}."
        docs.append((person, f"{person} was born in {city}.{job if filler else ''}"))
        questions.append(Question(f"Where was {person} born?", [city], 1, [person], None))
        questions.append(
            Question(
                f"Which nation contains the hometown of {person}?", [nation_of[city]], 2, [person, city], city
            )
        )
    return World(docs, questions)


@GENERATORS.register("multihop_world")
def multihop_world(
    size: int,
    seed: int,
    world_seed: int = 0,
    people: int = 200,
    cities: int = 40,
    nations: int = 8,
    filler: bool = True,
    hops: list[int] | None = None,
    split: str = "train",
    max_turns: int = 3,
    env: dict[str, object] | None = None,
) -> list[Sample]:
    """s3 episodes over :func:`build_world` (world ``world_seed``): ``size`` questions with the given
    hop counts, sampled with ``seed``; ``split="eval"`` draws from a held-out fifth of the questions;
    ``filler`` as in :func:`build_world`. ``env`` adds s3 environment params (``topk``, ``generator``...)."""
    world = build_world(world_seed, people, cities, nations, filler)
    held_out = split == "eval"  # every 5th question of the world is held out for eval
    pool = [
        q for i, q in enumerate(world.questions) if q.hops in (hops or [1, 2]) and (i % 5 == 0) == held_out
    ]
    if size > len(pool):
        raise ValueError(
            f"multihop_world: size={size} but the world has {len(pool)} questions of hops {hops}"
        )
    rng = random.Random(seed)
    picked = rng.sample(pool, size)
    world_params = {"seed": world_seed, "people": people, "cities": cities, "nations": nations}
    params = {
        "world": world_params if filler else {**world_params, "filler": False},
        **(env or {}),
    }
    return [
        Sample(
            id=f"multihop-{split}-{seed}-{i}",
            prompt=q.question,
            data_source=f"multihop_{q.hops}hop",
            reward=RewardSpec(verifier="env", ground_truth=q.answers),
            metadata={"question": q.question, "answers": q.answers, "hops": q.hops, "bridge": q.bridge},
            env=EnvSpec("s3", params, max_turns),
        )
        for i, q in enumerate(picked)
    ]
