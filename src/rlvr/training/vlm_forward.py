"""The learner's forward for a batch with images: log-probs of the responses under the same images.

Each distinct prompt of the micro-batch (``TokenBatch.vision.owner``: the n completions of a group
share one) runs once with its vision inputs, so its images go through the vision tower once; its KV
cache and last logits are gathered to the group's rows, and the responses run on top without pixel
values (as in the engine's decode):

    prefix pass  (U, P)    prompts + pixel values          -> KV cache (U, ...), last logits (U, V)
    suffix pass  (B, R-1)  responses but their last token  -> logits (B, R-1, V)

Positions are the model's own (``rlvr.models.vlm``): Qwen's 3-D M-RoPE for the prompt, and 1-D
positions + the row's delta for the response. Image tokens the policy emitted are read as the pad
token (as the engine fed them back); the labels keep the emitted ids. With activation checkpointing
(no cache) every row runs whole, with its prompt's vision inputs repeated.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rlvr.models.kv_cache import copy_rows
from rlvr.models.prefix import cache_kwarg, distinct_rows, shares_prefixes
from rlvr.models.vlm import (
    VisionBatch,
    batch_vision,
    image_token_ids,
    mrope_positions,
    replace_image_tokens,
    replacement_id,
)
from rlvr.training.batch import TokenBatch

TokenStats = Callable[[Tensor, Tensor, bool], tuple[Tensor, Tensor | None]]
"""(logits (b, k, V), labels (b, k), with_entropy) -> (log-probs (b, k), entropies (b, k) | None)."""


def vision_kwargs(vision: VisionBatch, prompts: Tensor, device: torch.device) -> dict[str, Tensor]:
    """The batched vision inputs of prompts ``prompts`` (k,) of ``vision``, on ``device``."""
    chosen = [vision.prompts[int(i)] for i in prompts.tolist()]
    return {k: v.to(device) for k, v in batch_vision(chosen).items()}


def model_positions(
    model: torch.nn.Module, mb: TokenBatch, first: Tensor, inverse: Tensor, kwargs: dict[str, Tensor]
) -> Tensor:
    """Position ids of the whole micro-batch: (B, P+R), or (3, B, P+R) for an M-RoPE model, where the
    prompt's come from ``get_rope_index`` over the distinct prompts ``first`` (U,) and ``inverse`` (B,)
    maps each row to its prompt."""
    P = mb.prompt_width
    mrope = mrope_positions(model, mb.input_ids[first, :P], mb.attention_mask[first, :P], kwargs)
    if mrope is None:
        return mb.position_ids
    prompt, delta = mrope  # (3, U, P), (U,)
    response = mb.position_ids[:, P:] + delta[inverse, None]  # (B, R)
    return torch.cat([prompt[:, inverse], response[None].expand(3, -1, -1)], dim=-1)


def response_inputs(model: torch.nn.Module, mb: TokenBatch) -> Tensor:
    """``input_ids`` (B, P+R) with image tokens in the responses read as the pad token."""
    P = mb.prompt_width
    response = replace_image_tokens(mb.input_ids[:, P:], image_token_ids(model), replacement_id(model))
    return torch.cat([mb.input_ids[:, :P], response], dim=1)


def vision_forward(
    model: torch.nn.Module, mb: TokenBatch, token_stats: TokenStats, with_entropy: bool
) -> tuple[Tensor, Tensor | None]:
    """Log-probs (B, R) of the response tokens of ``mb`` (and entropies (B, R) with ``with_entropy``)."""
    assert mb.vision is not None, "vision_forward needs a batch with images"
    P, R = mb.prompt_width, mb.response_width
    labels = mb.input_ids[:, P:]  # (B, R) the emitted ids
    input_ids = response_inputs(model, mb)
    first, inverse = distinct_rows(mb.vision.owner[:, None])
    if not shares_prefixes(model):
        return _whole_rows(model, mb, input_ids, labels, token_stats, with_entropy)
    kwargs = vision_kwargs(mb.vision, mb.vision.owner[first], input_ids.device)
    positions = model_positions(model, mb, first, inverse, kwargs)
    out = model(
        input_ids=input_ids[first, :P],
        attention_mask=mb.attention_mask[first, :P],
        position_ids=positions[..., first, :P],
        use_cache=True,
        logits_to_keep=1,
        **kwargs,
    )
    pieces = [out.logits[:, -1][inverse][:, None]]  # (B, 1, V) predicts each response's first token
    if R > 1:
        key = cache_kwarg(model)
        suffix = model(
            input_ids=input_ids[:, P:-1],
            attention_mask=mb.attention_mask[:, :-1],
            position_ids=positions[..., P:-1],
            use_cache=True,
            logits_to_keep=R - 1,
            **{key: copy_rows(getattr(out, key), inverse)},
        )
        pieces.append(suffix.logits)
    return token_stats(torch.cat(pieces, dim=1), labels, with_entropy)


def _whole_rows(
    model: torch.nn.Module,
    mb: TokenBatch,
    input_ids: Tensor,
    labels: Tensor,
    token_stats: TokenStats,
    with_entropy: bool,
) -> tuple[Tensor, Tensor | None]:
    """Every row's prompt and response in one pass (no cache: activation checkpointing)."""
    assert mb.vision is not None
    rows = torch.arange(mb.size, device=input_ids.device)
    kwargs = vision_kwargs(mb.vision, mb.vision.owner, input_ids.device)
    positions = model_positions(model, mb, rows, rows, kwargs)
    out = model(
        input_ids=input_ids[:, :-1],
        attention_mask=mb.attention_mask[:, :-1],
        position_ids=positions[..., :-1],
        use_cache=False,
        logits_to_keep=mb.response_width,
        **kwargs,
    )
    return token_stats(out.logits, labels, with_entropy)
