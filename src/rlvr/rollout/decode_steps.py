"""The two ways the hf engine runs its model: a prefill of the distinct prompts, then one token a step.

``TransformersSteps`` calls the model's own forward with a transformers cache (any causal LM).
``FastSteps`` runs Llama-family models through ``rlvr.models.fast_decoder`` (same math, far less
per-call overhead). Both take and return the same tensors, so the engine's loop does not know which
one runs:

    prefill(input_ids (U, P), positions (U, P), prompt_mask (U, P) | None, owner (B,), capacity)
                                                                                -> logits (B, V)
    decode(tokens (b,), positions (b,), key_mask (b, S) | None)                 -> logits (b, V)
    keep(rows (b',))                                  drop finished rows from the cache
    pack()                                            a long decode: pack the weights (fast decoder only)
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


class TransformersSteps:
    """Prefill and decode through ``model(...)`` and a transformers cache (preallocated where it can be)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.cache_kw = cache_kwarg(model)
        self.cache: Cache | None = None  # set by prefill

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
        return out.logits[:, -1, :][owner]

    def prefill_inputs(self) -> dict[str, Tensor]:
        """The model's extra prefill inputs (a VLM's pixel values); none for a text model."""
        return {}

    def decode(self, tokens: Tensor, positions: Tensor, key_mask: Tensor | None) -> Tensor:
        out = self.model(
            input_ids=tokens[:, None],
            attention_mask=key_mask,
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

    def pack(self) -> None:
        """Nothing to pack: the model's own forward runs its own modules."""


class FastSteps:
    """Prefill and decode through ``FastDecoder`` and its ``KVBuffers`` (Llama-family models)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.decoder = FastDecoder(model, pack=False)  # packed once the decode is long: see pack()
        self.cache: KVBuffers | None = None

    def prefill(
        self, input_ids: Tensor, positions: Tensor, prompt_mask: Tensor | None, owner: Tensor, capacity: int
    ) -> Tensor:
        self.cache = self.decoder.new_cache(input_ids.size(0), capacity)
        logits = self.decoder(input_ids, positions, self.cache, prompt_mask)
        self.cache.select(owner)
        return logits[owner]

    def decode(self, tokens: Tensor, positions: Tensor, key_mask: Tensor | None) -> Tensor:
        return self.decoder(tokens[:, None], positions[:, None], self._cache(), key_mask)

    def keep(self, rows: Tensor) -> None:
        self._cache().select(rows)

    def pack(self) -> None:
        self.decoder.pack()

    def _cache(self) -> KVBuffers:
        if self.cache is None:
            raise RuntimeError("decode() or keep() before prefill(): there is no cache yet")
        return self.cache
