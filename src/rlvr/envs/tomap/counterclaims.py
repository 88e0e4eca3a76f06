"""The counterclaim predictor: the claims a persuadee might hold against Q, listed once per topic.

As in the paper, a model lists ``generated`` counterclaims (10) of a topic, strongest first, and the
persuader is shown the first ``used`` (3). Sources, in a registry:

- ``topic_prior`` (offline): the synthetic topic's candidate concerns ranked by their public
  plausibility; the persuadee's held concerns are drawn from the same prior, so the list is informative
  but not exact. ``compact`` lists theme names (``cost``) instead of sentences.
- ``lm``: a chat model (the persuader model itself in the paper) asked for reasons supporting not-Q,
  parsed from its ``<reason>`` tags.

Lists are cached per (source, claim, candidates) in the process, and in a JSON file when ``cache_path`` is set.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlvr.envs.tomap.lm_persuadee import get_chat
from rlvr.envs.tomap.prompts import COUNTERCLAIMS
from rlvr.envs.tomap.topics import Topic
from rlvr.registry import Registry

Lister = Callable[[Topic, int], list[str]]
LISTERS: Registry[Callable[..., Lister]] = Registry("tomap counterclaim source")
_CACHE: dict[str, list[str]] = {}
_LOCK = threading.Lock()


@LISTERS.register("topic_prior")
def topic_prior(compact: bool = False) -> Lister:
    def listed(topic: Topic, n: int) -> list[str]:
        return [c.theme if compact else c.text for c in topic.candidates[:n]]

    return listed


@LISTERS.register("lm")
def lm_lister(chat: dict[str, Any] | str) -> Lister:
    model = get_chat(chat)

    def listed(topic: Topic, n: int) -> list[str]:
        ask = COUNTERCLAIMS.format(statement=topic.negation, n=n)
        out = model([[{"role": "user", "content": ask}]])[0]
        reasons = [r.strip() for r in re.findall(r"<reason>(.*?)</reason>", out, re.DOTALL) if r.strip()]
        if not reasons:
            raise ValueError(
                f"counterclaim predictor: no <reason> in its answer for {topic.claim!r}: {out[:200]!r}"
            )
        return reasons[:n]

    return listed


def predict_counterclaims(
    spec: dict[str, Any] | str,
    topic: Topic,
    generated: int = 10,
    used: int = 3,
    cache_path: str | None = None,
) -> list[str]:
    """The first ``used`` of the ``generated`` counterclaims ``spec``'s source lists for ``topic`` (cached)."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    # the claim and its public candidates: two topics of one claim with other candidates (a hand-built
    # topic and a generated one, say) must not share a list
    candidates = [c.text for c in topic.candidates]
    key = json.dumps(
        {**spec, "generated": generated, "claim": topic.claim, "candidates": candidates}, sort_keys=True
    )
    with _LOCK:
        if key not in _CACHE and cache_path and Path(cache_path).exists():
            _CACHE.update(json.loads(Path(cache_path).read_text()))
        if key in _CACHE:
            return _CACHE[key][:used]
    name = spec.pop("name")
    listed = LISTERS.get(name)(**spec)(topic, generated)
    with _LOCK:
        _CACHE[key] = listed
        if cache_path:
            Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
            Path(cache_path).write_text(json.dumps(_CACHE, indent=1))
    return listed[:used]
