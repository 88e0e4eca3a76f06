"""Data for the persuasion environment: episodes over synthetic topics and scripted SFT rows.

Recipes name them by import path (``generator: rlvr.envs.tomap:episodes``).
"""

from __future__ import annotations

import random
from typing import Any

from rlvr.data.sample import EnvSpec, RewardSpec, Sample
from rlvr.envs.tomap.env import ToMAPEnv
from rlvr.envs.tomap.topics import THEMES, make_topic, topic_indices


def _episode(key: str, split: str, topic: dict[str, Any], params: dict[str, Any], rounds: int) -> Sample:
    """One persuasion episode on ``topic`` (a :class:`Topic` as a dict), scored by the environment."""
    return Sample(
        id=f"tomap-{key}",
        prompt=f"persuade: {topic['claim']}",
        data_source=f"tomap_{split}",
        reward=RewardSpec(verifier="env"),
        metadata={"topic": topic},
        env=EnvSpec("tomap", params, rounds),
    )


def episodes(
    size: int,
    seed: int,
    split: str = "train",
    rounds: int = 3,
    world_seed: int = 0,
    env: dict[str, Any] | None = None,
) -> list[Sample]:
    """``size`` episodes on the ``split`` topics (``train`` | ``heldout``), cycling through them in an
    order drawn from ``seed``; ``env`` are the environment's parameters (``rounds`` is set here; the
    persuadee's ``seed`` is the row number unless ``env`` sets it)."""
    indices = topic_indices(split)
    random.Random(seed).shuffle(indices)
    samples = []
    for i in range(size):
        params = {"seed": i, **(env or {}), "rounds": rounds}  # the persuadee's seed varies with the row
        topic = make_topic(indices[i % len(indices)], world_seed)
        samples.append(_episode(f"{split}-{seed}-{i}", split, topic.to_dict(), params, rounds))
    return samples


def claims_file(
    size: int, seed: int, path: str, rounds: int = 3, split: str = "train", env: dict[str, Any] | None = None
) -> list[Sample]:
    """Episodes on the claims of a JSONL file (rows ``{"claim": Q, "negation": not-Q}``, as in the
    official data: one side of a CMV / args.me / Anthropic debate each), for an LM persuadee; ``size``
    rows drawn from ``seed`` (all of them, shuffled, when ``size`` is larger)."""
    import json
    from pathlib import Path

    rows = []
    for i, line in enumerate(Path(path).read_text().splitlines()):
        if not line.strip():
            continue
        row = json.loads(line)
        if "claim" not in row or "negation" not in row:
            raise ValueError(
                f"{path}:{i + 1}: a tomap claim row needs 'claim' and 'negation', got {sorted(row)}"
            )
        rows.append(row)
    random.Random(seed).shuffle(rows)
    params = {**(env or {}), "rounds": rounds}
    samples = []
    for i, row in enumerate(rows[:size]):
        topic = {
            "index": i,
            "claim": row["claim"],
            "negation": row["negation"],
            "candidates": [],
            "held": {},
            "s0": 0.5,
        }
        samples.append(_episode(f"{split}-{seed}-{i}", split, topic, params, rounds))
    return samples


def scripted_action(keyword: str, theme: str) -> str:
    """The scripted persuader's action: the theme as the thought, the keyword in a short argument."""
    return f"<thought>{theme}</thought><argument>it helps {keyword}</argument>"


def scripted_sft(
    size: int,
    seed: int,
    rounds: int = 3,
    world_seed: int = 0,
    informed: float = 0.0,
    env: dict[str, Any] | None = None,
) -> list[Sample]:
    """SFT rows played by the environment itself against a scripted persuader (compact prompts): the
    dialogue so far as the prompt, the next action as the response. Each action names one theme, random
    among all themes, or with probability ``informed`` the one the persuadee voiced last, with the keyword
    it used (or the first listed counterclaim): ``informed: 0`` knows the format, not the strategy."""
    rng = random.Random(seed)
    indices = topic_indices("train")
    params = {"compact": True, **(env or {}), "rounds": rounds}
    if params.get("tom") == "both":
        params["tom"] = "oracle"  # the warm start needs no trained predictor: same format, true agreement
    rows: list[Sample] = []
    while len(rows) < size:
        topic = make_topic(rng.choice(indices), world_seed)
        env_ = ToMAPEnv(**params)
        text = str(env_.reset(Sample(id="sft", prompt="-", metadata={"topic": topic.to_dict()})))
        hint = env_.claims[0] if env_.claims else None
        for _ in range(rounds):
            theme = rng.choice(sorted(THEMES))
            keyword = rng.choice(THEMES[theme])
            if hint is not None and rng.random() < informed:  # answer the hint, with its own keyword
                theme = next((t for t, kws in THEMES.items() if hint in kws or hint == t), theme)
                keyword = hint if hint in THEMES[theme] else rng.choice(THEMES[theme])
            action = scripted_action(keyword, theme)
            rows.append(
                Sample(id=f"tomap_sft-{seed}-{len(rows)}", prompt=text, data_source="tomap", response=action)
            )
            result = env_.step(action)
            if result.done or len(rows) >= size:
                break
            text += action + str(result.observation)
            hint = text.rsplit("B:but ", 1)[-1].split("?", 1)[0]
    return rows
