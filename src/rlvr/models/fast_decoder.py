"""A lean forward for sampling from Llama-family models (llama, mistral, qwen2, qwen3).

A decode step of a small model is mostly Python: transformers' forward builds masks, dispatches the
attention kernel, runs output-capturing hooks and updates a cache object around a few small matmuls.
``FastDecoder`` runs the same decoder layers with none of that: it calls the model's own modules
(embedding, norms, projections, MLP, LM head, so LoRA adapters are seen as they are; a bfloat16 model's
plain linear layers on the CPU through weights packed once, ``rlvr.models.packed_linear``, with q, k and
v as one matmul and a gated MLP's gate and up as another, bit for bit the same) and does only the
wiring itself, the rotary embedding, the KV cache (``KVBuffers``, allocated once) and the attention:

    h = embed(ids)
    per layer:  x = input_norm(h);  q, k, v = q_proj(x), k_proj(x), v_proj(x)     (qwen3: q_norm, k_norm)
                q, k = rope(q), rope(k);  append k, v to the cache
                h = h + o_proj(attention(q, k, v, mask))
                h = h + mlp(post_attention_norm(h))
    logits = lm_head(norm(h)[:, -1])

For the quickstart's model on a 2-core CPU that takes a training step's generation from ~67 to ~56 ms.
The order of operations and dtypes follow transformers' (an additive mask, the dtype's minimum where
masked; PyTorch's fused attention), so logits agree with the model's own forward to float rounding
(``tests/models/test_fast_decoder.py``). On the CPU a bfloat16 or float16 model's keys and values are
kept, and its attention run, in float32 (``kv_dtype``): PyTorch's CPU attention kernel is 3-5x slower in
bfloat16 than in float32 for one query position (8 rows, 8 heads of 64, 60-250 cached positions: 330-1,360
against 100-340 us), and the upcast of bfloat16 keys is exact, so only the attention's own rounding
changes (less of it): the logits are then those of the model's forward with SDPA on float32 copies
(``rlvr.models.attention.FLOAT32_SDPA``, bit for bit). It is for sampling only (no gradients). Models of
other families, dynamic RoPE variants and sliding windows shorter than the sequence keep transformers'
forward (``unsupported`` says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rlvr.models.packed_linear import (
    PackedSplit,
    Projection,
    Separate,
    has_hooks,
    joint_projection,
    mlp_projection,
    projection,
)

# model_type -> whether attention has per-head q/k norms (qwen3)
FAMILIES = {"llama": False, "mistral": False, "qwen2": False, "qwen3": True}
# RoPE variants whose inverse frequencies are fixed at load time (the dynamic ones change with length)
STATIC_ROPE = {"default", "linear", "llama3", "yarn"}
# the RMSNorms of FAMILIES: each has LlamaRMSNorm's forward (the variance in float32, the weight applied
# after the cast back to the input's dtype)
RMS_NORMS = {"LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm", "Qwen3RMSNorm"}
Norm = Callable[[Tensor], Tensor]

HFCausalLM = Any
"""A transformers ``*ForCausalLM`` of one of ``FAMILIES``. Its layout (``.config``, ``.model.layers[i]
.self_attn.q_proj``, ``.model.rotary_emb.inv_freq``...) is found by attribute at run time, which
``nn.Module``'s ``__getattr__`` types as ``Tensor | Module``; ``unsupported`` checks it before use."""


def _base_model(model: torch.nn.Module) -> HFCausalLM:
    """The transformers ``*ForCausalLM`` under a peft wrapper (or ``model`` itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _sliding_window(model: HFCausalLM) -> int | None:
    """The smallest attention window of any layer (None: all layers attend to the whole sequence)."""
    config = model.config
    if config.model_type == "mistral":  # mistral applies config.sliding_window to every layer
        return getattr(config, "sliding_window", None)
    windows = [getattr(layer.self_attn, "sliding_window", None) for layer in model.model.layers]
    return min((w for w in windows if w), default=None)


def unsupported(model: torch.nn.Module, seq_len: int) -> str | None:
    """Why ``FastDecoder`` cannot run ``model`` over sequences of ``seq_len`` positions (None: it can)."""
    base = _base_model(model)
    config = getattr(base, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in FAMILIES:
        return f"model_type {model_type!r} is not one of {sorted(FAMILIES)}"
    inner = getattr(base, "model", None)
    if inner is None or not hasattr(inner, "layers") or not hasattr(inner, "rotary_emb"):
        return f"{type(base).__name__} does not have the usual .model.layers / .model.rotary_emb layout"
    rope = getattr(inner.rotary_emb, "rope_type", "default")
    if rope not in STATIC_ROPE:
        return f"RoPE type {rope!r} is not one of {sorted(STATIC_ROPE)}"
    window = _sliding_window(base)
    if window is not None and window < seq_len:
        return f"sliding window {window} is shorter than the sequence ({seq_len} positions)"
    return None


class KVBuffers:
    """Keys and values of every layer in (B, KV heads, capacity, head_dim) buffers; the first ``length``
    positions are filled. Allocated once per generation; rows are gathered or dropped with ``select``."""

    def __init__(self, keys: list[Tensor], values: list[Tensor], length: int = 0) -> None:
        self.keys, self.values, self.length = keys, values, length

    @classmethod
    def empty(
        cls, layers: int, rows: int, kv_heads: int, capacity: int, head_dim: int, like: Tensor
    ) -> KVBuffers:
        shape = (rows, kv_heads, capacity, head_dim)
        return cls(
            [like.new_empty(shape) for _ in range(layers)], [like.new_empty(shape) for _ in range(layers)]
        )

    @property
    def capacity(self) -> int:
        return self.keys[0].size(2)

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write ``k``, ``v`` (B, KV, t, D) after the filled positions; returns the filled keys and values.
        ``advance`` moves ``length`` once all layers have been written."""
        end = self.length + k.size(2)
        if end > self.capacity:
            raise ValueError(f"KV cache full: {end} positions, capacity {self.capacity}")
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, tokens: int) -> None:
        self.length += tokens

    def select(self, rows: Tensor) -> None:
        """Keep rows ``rows`` (b,) of the batch, in that order (repeats allowed: a prompt's n completions)."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]


class StaticKVBuffers:
    """``KVBuffers`` for a decode step that runs as a CUDA graph (``rlvr.rollout.graphed_steps``): the fill
    level is a device tensor ``at`` (1,), so a step reads no host value. ``append`` writes one position at
    ``at`` and returns the whole buffers (the caller's additive mask hides the positions not yet written,
    which are zeros: a zero key and value with a zero weight add nothing), ``advance`` adds to ``at`` in
    place. Made from a prefilled ``KVBuffers`` with ``of``."""

    def __init__(self, keys: list[Tensor], values: list[Tensor], at: Tensor) -> None:
        self.keys, self.values, self.at = keys, values, at

    @classmethod
    def of(cls, cache: KVBuffers) -> StaticKVBuffers:
        """``cache``'s own buffers (not copied), the positions past its fill level zeroed."""
        for buffer in (*cache.keys, *cache.values):
            buffer[:, :, cache.length :].zero_()
        return cls(cache.keys, cache.values, torch.tensor([cache.length], device=cache.keys[0].device))

    @property
    def capacity(self) -> int:
        return self.keys[0].size(2)

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write one position's ``k``, ``v`` (B, KV, 1, D) at ``at``; returns every layer position's keys and
        values (B, KV, capacity, D). Past the capacity the write fails on the device, not here."""
        keys, values = self.keys[layer], self.values[layer]
        keys.index_copy_(2, self.at, k.to(keys.dtype))
        values.index_copy_(2, self.at, v.to(values.dtype))
        return keys, values

    def advance(self, tokens: int) -> None:
        self.at += tokens

    def select(self, rows: Tensor) -> None:
        """Keep rows ``rows`` (b,) of the batch, in that order (new buffers: a captured graph is stale)."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]


class LeanRMSNorm:
    """An RMSNorm of ``RMS_NORMS`` as PyTorch's fused ``F.rms_norm`` of the float32 input, cast back, times
    the weight: bit for bit the module's forward (``tests/models/test_fast_decoder.py``), in three
    operators instead of eight and without ``nn.Module``'s call."""

    def __init__(self, module: Any) -> None:  # one of RMS_NORMS: .weight and .variance_epsilon
        self.weight: Tensor = module.weight  # the parameter itself, so an update in place is seen
        self.eps = float(module.variance_epsilon)

    def __call__(self, x: Tensor) -> Tensor:
        return self.weight * F.rms_norm(x.float(), (x.size(-1),), eps=self.eps).to(x.dtype)


def rms_norm(module: torch.nn.Module) -> Norm:
    """``module`` as a ``LeanRMSNorm`` when it is one of ``RMS_NORMS`` with no hooks, on the CPU, else
    itself. (On a GPU the fused kernel's reduction may round the float32 variance differently from the
    module's ``pow(2).mean()``; not measured there yet.)"""
    weight = getattr(module, "weight", None)
    on_cpu = isinstance(weight, Tensor) and weight.device.type == "cpu"
    if type(module).__name__ in RMS_NORMS and on_cpu and not has_hooks(module):
        return LeanRMSNorm(module)
    return module


@dataclass(frozen=True)
class _Layer:
    """One decoder layer's modules, looked up once (``nn.Module`` attribute access is slow in a loop);
    its projections and MLP packed where ``rlvr.models.packed_linear`` can, its norms lean (``rms_norm``)."""

    input_norm: Norm
    qkv: PackedSplit | Separate  # x -> (q, k, v)
    o: Projection
    q_norm: Norm | None
    k_norm: Norm | None
    post_norm: Norm
    mlp: Projection

    @classmethod
    def of(cls, layer: HFCausalLM, qk_norm: bool, pack: bool) -> _Layer:
        """``layer``: one of the model's decoder layers (``.self_attn``, ``.mlp`` and the two norms)."""
        attn = layer.self_attn
        q_norm, k_norm = (rms_norm(attn.q_norm), rms_norm(attn.k_norm)) if qk_norm else (None, None)
        qkv = joint_projection((attn.q_proj, attn.k_proj, attn.v_proj), pack)
        return cls(
            rms_norm(layer.input_layernorm), qkv, projection(attn.o_proj, pack), q_norm, k_norm,
            rms_norm(layer.post_attention_layernorm), mlp_projection(layer.mlp, pack),
        )  # fmt: skip


def kv_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype of ``FastDecoder``'s KV cache and attention for ``model``: float32 for a bfloat16 or
    float16 model on the CPU (see the module docstring), else the model's own."""
    weight = next(model.parameters())
    if weight.device.type == "cpu" and weight.dtype in (torch.bfloat16, torch.float16):
        return torch.float32
    return weight.dtype


def _additive(allowed: Tensor, like: Tensor) -> Tensor:
    """0 where ``allowed``, else the lowest value of ``like``'s dtype (transformers' additive mask)."""
    zero = torch.zeros((), dtype=like.dtype, device=like.device)
    return torch.where(allowed, zero, torch.finfo(like.dtype).min)


def _rotate_half(x: Tensor) -> Tensor:
    half = x.size(-1) // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class FastDecoder:
    """Sampling-time forward of a Llama-family model (see the module docstring). Check ``unsupported``
    first. ``pack``: bfloat16 projections packed for oneDNN on the CPU (``rlvr.models.packed_linear``) now
    (or later, with :meth:`pack`). Packed weights are a snapshot: build a new decoder after a weight update
    (unpacked modules are read at each call)."""

    def __init__(self, model: torch.nn.Module, pack: bool = True) -> None:
        reason = unsupported(model, seq_len=0)
        if reason is not None:
            raise ValueError(f"FastDecoder cannot run this model: {reason}")
        self.causal_lm: HFCausalLM = _base_model(model)
        self.inner: HFCausalLM = self.causal_lm.model  # the decoder stack (embed_tokens, layers, norm)
        config = self.causal_lm.config
        layers = list(self.inner.layers[: config.num_hidden_layers])
        attn = layers[0].self_attn
        self.head_dim: int = attn.head_dim
        self.heads: int = config.num_attention_heads
        self.kv_heads: int = config.num_key_value_heads
        self.groups = self.heads // self.kv_heads
        self.scaling: float = attn.scaling
        self._model_layers, self._qk_norm = layers, FAMILIES[config.model_type]
        self._wire(pack)

    def pack(self) -> None:
        """Pack the packable projections now (the outputs stay bit for bit the same; a no-op where nothing
        is packable, and once packed)."""
        if not self.packed:
            self._wire(pack=True)

    def _wire(self, pack: bool) -> None:
        """Look up each layer's modules (``_Layer``) and the LM head, packed where ``pack`` and packable."""
        self.layers = [_Layer.of(layer, self._qk_norm, pack) for layer in self._model_layers]
        self.final_norm = rms_norm(self.inner.norm)
        self.lm_head = projection(self.causal_lm.lm_head, pack)
        self.packed = pack

    def new_cache(self, rows: int, capacity: int) -> KVBuffers:
        """Empty buffers for ``rows`` sequences of up to ``capacity`` positions, in ``kv_dtype``."""
        weight = self.inner.embed_tokens.weight
        like = weight.new_empty(0, dtype=kv_dtype(self.causal_lm))
        return KVBuffers.empty(len(self.layers), rows, self.kv_heads, capacity, self.head_dim, like)

    @torch.no_grad()
    def __call__(
        self, input_ids: Tensor, position_ids: Tensor, cache: KVBuffers, key_mask: Tensor | None = None
    ) -> Tensor:
        """Next-token logits (B, V) after ``input_ids`` (B, t) at ``position_ids`` (B, t), appending their
        keys and values to ``cache``. ``key_mask`` (B, >= cache.length + t) marks the cached and new
        positions that may be attended to (False: left padding); None means all of them."""
        B, t = input_ids.shape
        rope = self._rope(position_ids, self.inner.embed_tokens.weight.dtype)
        return self.forward(input_ids, rope, self._mask(key_mask, cache.length, t, B, cache.keys[0]), cache)

    @torch.no_grad()
    def forward(
        self,
        input_ids: Tensor,
        rope: tuple[Tensor, Tensor],
        mask: Tensor | None,
        cache: KVBuffers | StaticKVBuffers,
    ) -> Tensor:
        """``__call__`` given the positions' rotary ``rope`` (cos, sin: (B, t, 1, D), as ``rope_table``
        rows or ``_rope``) and the additive ``mask`` (B or 1, 1, t, cache.length + t) or None. A decode
        loop makes both once (``rope_table``, ``key_bias``) and slices them each step. With a
        ``StaticKVBuffers`` (t = 1) the keys are the whole capacity and ``mask`` (B or 1, 1, 1, capacity)
        must hide the positions not yet written."""
        B, t = input_ids.shape
        h = self.inner.embed_tokens(input_ids)
        cos, sin = rope
        for i, layer in enumerate(self.layers):
            q, k, v = self._qkv(layer, layer.input_norm(h), cos, sin)
            keys, values = cache.append(i, k, v)  # in the cache's dtype (see kv_dtype)
            out = self._attention(q.to(keys.dtype), keys, values, mask).to(h.dtype)
            out = out.transpose(1, 2).reshape(B, t, -1)
            h = h + layer.o(out)
            h = h + layer.mlp(layer.post_norm(h))
        cache.advance(t)
        h = self.final_norm(h[:, -1:, :])
        return self.lm_head(h)[:, -1, :]

    def rope_table(self, positions: int) -> tuple[Tensor, Tensor]:
        """cos, sin (positions, 1, 1, D) of positions 0 .. positions - 1: ``table[p]`` for positions ``p``
        (B,) is ``_rope(p[:, None])``, bit for bit (the same element-wise operations on the same values;
        ``tests/models/test_fast_decoder.py``), in two lookups instead of a dozen operators a step."""
        weight = self.inner.embed_tokens.weight
        return self._rope(torch.arange(positions, device=weight.device)[:, None], weight.dtype)

    def key_bias(self, key_mask: Tensor) -> Tensor:
        """The additive mask (B, 1, 1, S) of one query position per row over keys ``key_mask`` (B, S)
        (False: left padding), in the KV cache's dtype: ``bias[..., :s]`` is a decode step's mask when
        the cache holds s - 1 positions and the new one is allowed."""
        like = torch.empty(0, dtype=kv_dtype(self.causal_lm), device=key_mask.device)
        return _additive(key_mask[:, None, None, :].bool(), like)

    def _qkv(self, layer: _Layer, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries (B, H, t, D), keys and values (B, KV, t, D) of ``x`` (B, t, hidden), the queries and keys
        rotated (cos, sin: (B, t, 1, D)). When q, k and v are one packed matmul (and there is no qk norm), q
        and k are adjacent in its output and are rotated in one pass: the same values, half the operators."""
        B, t, _ = x.shape
        H, KV, D = self.heads, self.kv_heads, self.head_dim
        if isinstance(layer.qkv, PackedSplit) and layer.q_norm is None:
            heads = layer.qkv.packed(x).view(B, t, H + 2 * KV, D)
            qk = heads[:, :, : H + KV]
            q, k = (qk * cos + _rotate_half(qk) * sin).split((H, KV), dim=2)
            v = heads[:, :, H + KV :]
        else:
            q, k, v = layer.qkv(x)
            q, k, v = q.view(B, t, H, D), k.view(B, t, KV, D), v.view(B, t, KV, D)
            if layer.q_norm is not None and layer.k_norm is not None:  # both or neither (qwen3)
                q, k = layer.q_norm(q), layer.k_norm(k)
            q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def _rope(self, position_ids: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """cos, sin (B, t, 1, D) as transformers' rotary embedding computes them."""
        rotary = self.inner.rotary_emb
        freqs = position_ids[..., None].float() * rotary.inv_freq.to(position_ids.device, torch.float)
        emb = torch.cat((freqs, freqs), dim=-1)
        scale = rotary.attention_scaling
        return (emb.cos() * scale).to(dtype)[:, :, None], (emb.sin() * scale).to(dtype)[:, :, None]

    @staticmethod
    def _mask(key_mask: Tensor | None, past: int, t: int, B: int, like: Tensor) -> Tensor | None:
        """Additive mask (B or 1, 1, t, past + t) in ``like``'s dtype, or None when nothing is masked."""
        S = past + t
        allowed = None
        if t > 1:  # causal among the new positions
            allowed = torch.ones((t, S), dtype=torch.bool, device=like.device).tril(past)[None, None]
        if key_mask is not None:
            keys = key_mask[:, None, None, :S].bool()
            # a padded query position sees itself, so no row is all masked (its output is never used)
            own = torch.zeros((t, S), dtype=torch.bool, device=like.device)
            own[:, past:] = torch.eye(t, dtype=torch.bool, device=like.device)  # made on the device: no copy
            keys = keys | own[None, None]
            allowed = keys if allowed is None else allowed & keys
        return None if allowed is None else _additive(allowed, like)

    def _attention(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """softmax(q k^T * scale + mask) v, with (B, H, t, D) queries and (B, KV, S, D) keys and values
        (PyTorch's fused kernel: ~13% faster a decode step than matmul-softmax-matmul on CPU).

        A decode step (t = 1) with grouped-query attention folds the ``groups`` query heads that share a
        key / value head into that head's query rows, (B, KV, groups, D), as transformers does: the
        kernel reads each cached key and value once per KV head instead of once per query head. Each
        row's attention is the same computation (the mask of one query position is shared by all its
        heads). On the CPU, 8 rows, 9 / 3 and 14 / 2 heads at 60-250 cached positions, it is 4-10x
        faster than ``enable_gqa`` in bfloat16 and 1.1-2x in float32. On a GPU it has not been timed
        (there a decode step's attention ran on the cuDNN backend with ``enable_gqa``)."""
        B, H, t, D = q.shape
        if self.groups > 1 and t == 1:
            q = q.reshape(B, self.kv_heads, self.groups, D)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling)
            return out.reshape(B, H, 1, D)
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, scale=self.scaling, enable_gqa=self.groups > 1
        )
