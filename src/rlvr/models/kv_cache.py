"""KV-cache helpers: a cache allocated once for a whole generation, and gathering a cache's rows.

transformers' ``DynamicLayer`` grows its keys and values by concatenation, copying the whole cache at
every decoded token (quadratic in the length). ``PreallocatedLayer`` writes each new token into a buffer
sized for prompt + completion and hands attention a view of the filled part (~25% faster generation at
200 new tokens on CPU; the same at 10).

``gather_rows`` / ``copy_rows`` expand the cache of each distinct prompt to the rows of its
completions, differentiably (the learner's shared prompt prefix, ``rlvr.models.prefix``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor
from transformers.cache_utils import Cache, CacheLayerMixin, DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """A full-attention cache layer over fixed (B, H, capacity, D) buffers; ``keys`` / ``values`` are views
    of the first ``length`` positions."""

    is_croppable = True

    def __init__(self, keys: Tensor, values: Tensor, length: int) -> None:
        super().__init__()
        self._k, self._v = keys, values  # (B, H, capacity, D) buffers
        self.length = length
        self.device = keys.device
        self.is_initialized = True
        self._views()

    @classmethod
    def from_layer(cls, layer: DynamicLayer, capacity: int, rows: Tensor) -> PreallocatedLayer:
        """The filled part of ``layer``, its rows gathered by ``rows`` (B,), in buffers of ``capacity``."""
        k, v = (x.index_select(0, rows) for x in _kv(layer))  # (B, H, L, D)
        L = k.size(-2)
        keys = k.new_empty((*k.shape[:2], capacity, k.size(-1)))
        values = v.new_empty((*v.shape[:2], capacity, v.size(-1)))
        keys[:, :, :L], values[:, :, :L] = k, v
        return cls(keys, values, L)

    def _views(self) -> tuple[Tensor, Tensor]:
        """Point ``keys`` / ``values`` at the filled part of the buffers; returns them."""
        keys, values = self._k[:, :, : self.length], self._v[:, :, : self.length]
        self.keys, self.values = keys, values
        return keys, values

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        end = self.length + key_states.size(-2)
        if end > self._k.size(-2):
            raise ValueError(f"KV cache full: {end} positions, capacity {self._k.size(-2)}")
        self._k[:, :, self.length : end] = key_states
        self._v[:, :, self.length : end] = value_states
        self.length = end
        return self._views()

    def get_seq_length(self) -> int:
        return self.length

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove < 0:
            self.length = max(self.length + tokens_to_remove, 0)
            self._views()

    def batch_select_indices(self, indices: Tensor) -> None:
        self._k, self._v = self._k.index_select(0, indices), self._v.index_select(0, indices)
        self._views()

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._k = self._k.repeat_interleave(repeats, dim=0)
        self._v = self._v.repeat_interleave(repeats, dim=0)
        self._views()


def _kv(layer: CacheLayerMixin) -> tuple[Tensor, Tensor]:
    """An initialized layer's keys and values (transformers types them Optional: None before an update)."""
    if layer.keys is None or layer.values is None:
        raise ValueError(f"cache layer {type(layer).__name__} holds no keys and values yet")
    return layer.keys, layer.values


def _select_layer_rows(layer: object, rows: Tensor) -> None:
    """``layer.batch_select_indices(rows)``: transformers declares that method on some layer classes only
    (``DynamicLayer`` and its subclasses, ``DummyLayer``), not on the base classes a ``Cache`` lists."""
    select = getattr(layer, "batch_select_indices", None)
    if select is None:
        raise TypeError(f"cache layer {type(layer).__name__} cannot gather rows (no batch_select_indices)")
    select(rows)


def preallocate(cache: Cache, capacity: int, rows: Tensor) -> Cache:
    """Gather ``cache``'s rows by ``rows`` (B,) and move its full-attention layers into buffers of
    ``capacity`` positions, in place. Other layers (sliding windows, linear attention) are only gathered."""
    for i, layer in enumerate(cache.layers):
        if type(layer) is DynamicLayer and layer.is_initialized:
            cache.layers[i] = PreallocatedLayer.from_layer(layer, capacity, rows)
        else:
            _select_layer_rows(layer, rows)
    return cache


class _SelectRows(torch.autograd.Function):
    """``x.index_select(0, rows)`` whose backward makes the incoming gradient contiguous before its
    index_add. The gradient reaching a cache is a slice of the gradient of concatenated keys; autograd's
    own backward scatters that strided tensor about twice as slowly on CPU."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, rows: Tensor) -> Tensor:
        ctx.save_for_backward(rows)
        ctx.num_rows = x.size(0)
        return x.index_select(0, rows)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (rows,) = ctx.saved_tensors
        out = grad.new_zeros((ctx.num_rows, *grad.shape[1:]))
        return out.index_add_(0, rows, grad.contiguous()), None


def select_rows(x: Tensor, rows: Tensor) -> Tensor:
    """Rows ``rows`` of ``x`` along dim 0, differentiable (through ``_SelectRows`` when needed)."""
    return _SelectRows.apply(x, rows) if x.requires_grad else x.index_select(0, rows)


def gather_rows(cache: Cache, rows: Tensor) -> Cache:
    """``cache``'s rows gathered by ``rows`` (B,), in place (rebinding each layer's tensors). Gradients
    flow back to the rows gathered from (a shared prefix)."""
    if not is_layered(cache):
        cache.batch_select_indices(rows)
        return cache
    for layer in cache.layers:
        if type(layer) is DynamicLayer and layer.is_initialized:
            keys, values = _kv(layer)
            layer.keys, layer.values = select_rows(keys, rows), select_rows(values, rows)
        else:
            _select_layer_rows(layer, rows)
    return cache


def copy_rows(cache: Cache, rows: Tensor) -> Cache:
    """A new cache holding ``cache``'s rows ``rows`` (B,); ``cache`` (a layered one) is left as it was."""
    assert is_layered(cache), type(cache)
    out = copy.copy(cache)
    out.layers = [copy.copy(layer) for layer in cache.layers]  # gathering rebinds, never writes, tensors
    return gather_rows(out, rows)


def is_layered(cache: object) -> bool:
    """Whether ``cache`` is a transformers ``Cache`` made of per-layer objects (all 5.x caches)."""
    return isinstance(cache, Cache) and isinstance(getattr(cache, "layers", None), list)
