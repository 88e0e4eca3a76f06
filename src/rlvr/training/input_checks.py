"""Checks on the data that need the model's tokenizer and context, run while the data loads.

``prompt_lengths_checked`` registers a ``rlvr.data.checks`` check for the duration of a load, so a
prompt whose tokens plus ``max_new_tokens`` do not fit the model's context fails before any model
loads, with the file, the row and the field (``prompt`` or ``messages``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from rlvr.data import checks
from rlvr.data.sample import Sample

log = logging.getLogger(__name__)


def context_length(model_cfg: Any) -> int | None:
    """The model's context in tokens (``max_position_embeddings``) from its config alone, or None."""
    if getattr(model_cfg, "tiny", None) is not None:
        return int(model_cfg.tiny.max_positions)
    path = getattr(model_cfg, "path", None)
    if not path:
        return None
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(
            path, trust_remote_code=getattr(model_cfg, "trust_remote_code", False)
        )
    except (OSError, ValueError) as exc:  # unreachable hub, odd config: the model load will say more
        log.debug("no context length for %s: %s", path, exc)
        return None
    text_config = getattr(config, "text_config", None) or config
    value = getattr(text_config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) else None


def prompt_length_check(
    count_tokens: Callable[[Sample], int], context: int, max_new_tokens: int
) -> checks.SampleCheck:
    """A sample check: the prompt's tokens plus ``max_new_tokens`` must fit in ``context``."""
    room = context - max_new_tokens

    def check(sample: Sample) -> tuple[str, str] | None:
        n = count_tokens(sample)
        if n <= room:
            return None
        field = "prompt" if sample.prompt is not None else "messages"
        return field, (
            f"{n} tokens; the model's context is {context} tokens and rollout.max_new_tokens={max_new_tokens}, "
            f"so a prompt may have at most {room}; shorten it, drop the row, or lower rollout.max_new_tokens"
        )

    return check


@contextlib.contextmanager
def prompt_lengths_checked(tokenizer: Any, model_cfg: Any, max_new_tokens: int) -> Iterator[None]:
    """While data loads inside this block, reject prompts that do not fit the model's context."""
    context = context_length(model_cfg)
    if context is None:
        yield
        return
    from rlvr.rollout.prompts import render_prompt

    room = context - max_new_tokens

    def count_tokens(sample: Sample) -> int:
        text = render_prompt(tokenizer, sample)
        if len(text.encode()) + 2 <= room:  # a token covers at least one byte (+2: a prefix, an end token)
            return 0
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    check = prompt_length_check(count_tokens, context, max_new_tokens)
    checks.register_sample_check("prompt_length", check)
    try:
        yield
    finally:
        checks.SAMPLE_CHECKS.pop("prompt_length", None)
