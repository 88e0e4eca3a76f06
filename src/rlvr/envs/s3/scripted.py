"""Scripted s3 episodes: SFT rows that teach a searcher the tag format, not which query to write.

A tiny searcher built from scratch writes no valid tags, so RL has nothing to reinforce. The warm start
is SFT on episodes played by a scripted query policy over the synthetic world (``rlvr.data.multihop``),
each row the episode so far (raw text, exactly as the episode runner builds it) and the next action:

    turn 1   <query>NAME</query>                       NAME: a query policy's pick (below)
    turn 2   <search_complete>True</search_complete>

Query policies (``QUERY_POLICIES``):

- ``entity`` (the warm start's): a uniformly random entity named in the latest ``<information>``
  block, a doc's title (a person) or a capitalised word of a body that is not its title (the city a
  person was born in). With top-3 that is one of six candidates, one of them the bridge city: the
  searcher learns to search for a name it has read, and RL has to learn which one.
- ``question``: the raw question again (naive RAG's query: it finds nothing new).
- ``bridge``: the bridge entity (the optimal query; an oracle for measurement, never a warm start, or
  the experiment would only measure imitation).

No ``<important_info>``: every block counts whole (the env's ``unselected: all``, the official reward's
rule), so D_s3 always contains D_RAG.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable
from typing import Any

from rlvr.data import generate
from rlvr.data.sample import Sample
from rlvr.envs.registry import build_env
from rlvr.envs.s3.env import S3Env
from rlvr.retrieval import Hit

COMPLETE = "<search_complete>True</search_complete>"
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")

QueryPolicy = Callable[[str, list[Hit], dict[str, Any], random.Random], str]
"""``policy(question, latest hits, sample metadata, rng) -> query text``."""


def named_entities(hits: list[Hit]) -> list[str]:
    """The entities a block names, in order, deduplicated: each doc's title, then the capitalised words
    of its body that are not part of the title."""
    out: list[str] = []
    for h in hits:
        title_words = set(h.title.split())
        out.append(h.title)
        out.extend(w for w in _CAPITALISED.findall(h.body) if w not in title_words)
    return list(dict.fromkeys(out))


def _entity(question: str, hits: list[Hit], meta: dict[str, Any], rng: random.Random) -> str:
    return rng.choice(named_entities(hits))


def _question(question: str, hits: list[Hit], meta: dict[str, Any], rng: random.Random) -> str:
    return question


def _bridge(question: str, hits: list[Hit], meta: dict[str, Any], rng: random.Random) -> str:
    if not meta.get("bridge"):
        raise ValueError(f"query policy 'bridge': question {question!r} has no bridge entity (1-hop)")
    return str(meta["bridge"])


QUERY_POLICIES: dict[str, QueryPolicy] = {"entity": _entity, "question": _question, "bridge": _bridge}


def play(env: S3Env, sample: Sample, policy: QueryPolicy, rng: random.Random) -> list[tuple[str, str]]:
    """One scripted episode (one query, then done): ``(text so far, action)`` per turn, raw text."""
    text = env.reset(sample)
    if not isinstance(text, str):
        raise ValueError(f"sample {sample.id!r}: scripted s3 episodes need raw text (env param chat: false)")
    action = f"<query> {policy(env.question, env.blocks[-1][0], sample.metadata, rng)}</query>"
    turns = [(text, action)]
    observation = env.step(action).observation
    turns.append((text + action + str(observation), COMPLETE))
    env.step(COMPLETE)
    return turns


def s3_scripted(
    size: int,
    seed: int,
    policy: str = "entity",
    first_turn: float = 0.6,
    questions: int | None = None,
    topks: list[int] | None = None,
    generator: str = "multihop_world",
    **kwargs: Any,
) -> list[Sample]:
    """SFT rows (``rlvr.envs.s3:s3_scripted``): ``size`` episodes played by query policy ``policy`` over
    ``questions`` (default ``size``) questions of ``generator`` (its kwargs as given; ``hops`` defaults
    to [2]), cycled; each row is one turn of one episode, the first with probability ``first_turn``.
    ``topks``: each episode's results per search drawn from these (a curriculum: with top-1 the query is
    one of two names, so copying a name from the results is learnt sooner); default the env's."""
    if policy not in QUERY_POLICIES:
        raise ValueError(f"s3_scripted: unknown query policy {policy!r}; known: {sorted(QUERY_POLICIES)}")
    kwargs.setdefault("hops", [2])
    episodes = generate(generator, size=questions or size, seed=seed, **kwargs)
    rng = random.Random(seed)
    rows = []
    for i in range(size):
        sample = episodes[i % len(episodes)]
        if sample.env is None:
            raise ValueError(f"sample {sample.id!r}: s3_scripted needs s3 episodes (an env spec)")
        spec = sample.env
        if topks:
            spec = dataclasses.replace(spec, params={**spec.params, "topk": rng.choice(topks)})
        env = build_env(spec)
        if not isinstance(env, S3Env):
            raise TypeError(f"sample {sample.id!r}: env {sample.env.name!r} is not s3")
        turns = play(env, sample, QUERY_POLICIES[policy], rng)
        prompt, action = turns[0] if rng.random() < first_turn else turns[1]
        rows.append(
            Sample(
                id=f"s3_scripted-{i}-{sample.id}",
                prompt=prompt,
                data_source=sample.data_source,
                response=action,
                metadata={**sample.metadata, "policy": policy},
            )
        )
    return rows
