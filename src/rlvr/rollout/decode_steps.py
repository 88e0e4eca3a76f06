"""The two ways the hf engine runs its model: a prefill of the distinct prompts, then one token a step.

``TransformersSteps`` calls the model's own forward with a transformers cache (any causal LM).
``FastSteps`` runs Llama-family models through ``rlvr.models.fast_decoder`` (same math, far less
per-call overhead). Both take and return the same tensors, so the engine's loop does not know which
one runs:

    prefill(input_ids (U, P), positions (U, P), prompt_mask (U, P) | None, owner (B,), capacity)
                                                                                -> logits (B, V)
    decode(tokens (b,), positions (b,))                                         -> logits (b, V)
    keep(rows (b',))                                  drop finished rows from the cache and the mask
    pack()                                            a long decode: pack the weights (fast decoder only)

Each keeps the decode's key mask itself from the prefill's (``decode_key_mask``: the prompt's left
padding, then every decoded position), so the loop passes only tokens and positions.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers.cache_utils import Cache

from rlvr.models.fast_decoder import FastDecoder, KVBuffers
from rlvr.models.kv_cache import is_layered, preallocate
from rlvr.models.prefix import cache_kwarg


def positions_from_mask(attention_mask: Tensor) -> Tensor:
    """Position ids of left-padded rows (B, T): 0 at each row's first attended token, counting only
    attended tokens (the learner's batches and the engine's prompts both number positions so)."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def decode_key_mask(prompt_mask: Tensor | None, owner: Tensor, capacity: int) -> Tensor | None:
    """The decode's key mask (B, capacity): each row's prompt mask (its prompt's row of ``prompt_mask``
    (U, P), gathered by ``owner`` (B,)), then 1 for every decoded position; None when no prompt is padded."""
    if prompt_mask is None:
        return None
    mask = torch.ones((owner.numel(), capacity), dtype=torch.long, device=prompt_mask.device)
    mask[:, : prompt_mask.size(1)] = prompt_mask[owner]
    return mask


class TransformersSteps:
    """Prefill and decode through ``model(...)`` and a transformers cache (preallocated where it can be)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.cache_kw = cache_kwarg(model)
        self.cache: Cache | None = None  # set by prefill
        self.key_mask: Tensor | None = None  # (b, capacity), see decode_key_mask
        self.length = 0  # positions in the cache

    def prefill(
        self, input_ids: Tensor, positions: Tensor, prompt_mask: Tensor | None, owner: Tensor, capacity: int
    ) -> Tensor:
        out = self.model(
            input_ids=input_ids,
            attention_mask=prompt_mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **self.prefill_inputs(),
        )
        cache = getattr(out, self.cache_kw)
        if is_layered(cache):
            cache = preallocate(cache, capacity, owner)  # one row per completion, room for the completion
        elif input_ids.size(0) < owner.numel():
            cache.batch_select_indices(owner)
        self.cache = cache
        self.key_mask = decode_key_mask(prompt_mask, owner, capacity)
        self.length = input_ids.size(1)
        return out.logits[:, -1, :][owner]

    def prefill_inputs(self) -> dict[str, Tensor]:
        """The model's extra prefill inputs (a VLM's pixel values); none for a text model."""
        return {}

    def decode(self, tokens: Tensor, positions: Tensor) -> Tensor:
        out = self.model(
            input_ids=tokens[:, None],
            attention_mask=self.next_key_mask(),
            position_ids=positions[:, None],
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_kw: self.cache},
        )
        return out.logits[:, -1, :]

    def keep(self, rows: Tensor) -> None:
        if self.cache is None:
            raise RuntimeError("keep() before prefill(): there is no cache yet")
        self.cache.batch_select_indices(rows)
        if self.key_mask is not None:
            self.key_mask = self.key_mask[rows]

    def next_key_mask(self) -> Tensor | None:
        """The key mask (b, length + 1) of the next decode step, which adds one position to the cache."""
        self.length += 1
        return None if self.key_mask is None else self.key_mask[:, : self.length]

    def pack(self) -> None:
        """Nothing to pack: the model's own forward runs its own modules."""


def fast_prefill(
    decoder: FastDecoder,
    input_ids: Tensor,
    positions: Tensor,
    prompt_mask: Tensor | None,
    owner: Tensor,
    capacity: int,
) -> tuple[Tensor, KVBuffers, tuple[Tensor, Tensor], Tensor | None]:
    """The distinct prompts (U, P) through ``decoder`` once, gathered to their rows by ``owner`` (B,): the
    next-token logits (B, V), the KV cache (room for ``capacity`` positions), the rotary table (cos, sin
    by position) and the decode's key mask (``decode_key_mask``; None when no prompt is padded)."""
    cache = decoder.new_cache(input_ids.size(0), capacity)
    logits = decoder(input_ids, positions, cache, prompt_mask)
    cache.select(owner)
    key_mask = decode_key_mask(prompt_mask, owner, capacity)
    return logits[owner], cache, decoder.rope_table(capacity), key_mask


class FastSteps:
    """Prefill and decode through ``FastDecoder`` and its ``KVBuffers`` (Llama-family models). The decode's
    rotary table and additive key mask are made once at prefill and sliced each step (the same values
    as the decoder's own per-step ones)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.decoder = FastDecoder(model, pack=False)  # packed once the decode is long: see pack()
        self.cache: KVBuffers | None = None
        self.rope: tuple[Tensor, Tensor] | None = None  # cos, sin (capacity, 1, 1, D) by position
        self.bias: Tensor | None = None  # (b, 1, 1, capacity) additive key mask; None: nothing masked

    def prefill(
        self, input_ids: Tensor, positions: Tensor, prompt_mask: Tensor | None, owner: Tensor, capacity: int
    ) -> Tensor:
        logits, self.cache, self.rope, key_mask = fast_prefill(
            self.decoder, input_ids, positions, prompt_mask, owner, capacity
        )
        self.bias = None if key_mask is None else self.decoder.key_bias(key_mask)
        return logits

    def decode(self, tokens: Tensor, positions: Tensor) -> Tensor:
        cache = self._cache()
        assert self.rope is not None  # set with the cache
        rope = (self.rope[0].index_select(0, positions), self.rope[1].index_select(0, positions))
        mask = None if self.bias is None else self.bias[..., : cache.length + 1]
        return self.decoder.forward(tokens[:, None], rope, mask, cache)

    def keep(self, rows: Tensor) -> None:
        self._cache().select(rows)
        if self.bias is not None:
            self.bias = self.bias.index_select(0, rows)

    def pack(self) -> None:
        self.decoder.pack()

    def _cache(self) -> KVBuffers:
        if self.cache is None:
            raise RuntimeError("decode() or keep() before prefill(): there is no cache yet")
        return self.cache
