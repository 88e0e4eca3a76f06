"""The attention kernel for the learner's passes over short sequences on CPU, and SDPA's backends on a GPU.

PyTorch's fused CPU attention (SDPA's flash kernel) is built for long sequences. For the short ones of
small RL tasks (tens of positions), transformers' eager attention (matmul, softmax, matmul) is as fast
on one thread and about 2x faster forward + backward on two or more, since its batched matmuls use all
threads; on a 2-thread CPU that took ~18% off a whole learner update of the quickstart model. Past
``EAGER_MAX_LEN`` positions the fused kernel wins for a float32 model, and on GPUs it always does, so the
switch is limited to CPU, short sequences and models that use SDPA, and off under activation
checkpointing.

A bfloat16 or float16 model's eager attention runs its two matmuls in half precision (oneDNN), which the
fused kernel cannot match up to a few hundred positions once the heads are wide enough for those matmuls
to dominate. A whole ``Learner.update`` of 8 rows, one thread, against SDPA on float32 copies (below), at
prompt + response = 62 + 96 / 62 + 190 positions: 10 / 12% less CPU time at the 30M Llama shape and 9 /
10% at SmolLM-135M's (heads of 64); none at Qwen2.5-0.5B's (heads of 64, 7 query heads to a KV head:
0.98x at 158, no gain at 252), whose update the LM head and MLPs dominate; SmolLM-360M's shape 1.21x at
158 and 8% more at 252; at the tiny quickstart shape (heads of 32) the same at 158 and 15% more at 252.
So a half-precision model with heads of at least ``HALF_EAGER_MIN_HEAD_DIM`` runs eager attention up to
``HALF_EAGER_MAX_LEN`` positions: the longest measured length at which no shape lost. (30M and 135M would
gain up to 256; 360M and 0.5B would not.) Its log-probs are as close to a float32 model's as either
SDPA's (the mean error over 8 x 150 positions: 1.0e-3 / 2.9e-3 / 4.7e-3 at the tiny / 30M / 135M shapes,
the same to two digits for all three kernels): the attention's rounding is small beside the rest of a
half-precision forward's. Its cost is memory: the backward keeps each layer's attention probabilities, 6
bytes x rows x heads x queries x keys (the 0.5B shape's update of 8 rows: peak RSS +9 MB at 158
positions; +467 MB at 252, 7.38 -> 7.85 GB, were the bound that long).

The fused kernel's bfloat16 backward on the CPU is also slower than its float32 one up to a few hundred
positions (forward + backward of the 0.5B shape's 14 heads over 95 queries and 157 keys, one thread:
88 ms in bfloat16, 35 ms with the inputs cast to float32; at ~300 positions even, at ~1,000 bfloat16
wins). So a half-precision model's other passes of up to ``FLOAT32_MAX_LEN`` positions run the same
kernel on float32 copies of the queries, keys and values, the output cast back: the same attention,
with less rounding than the half-precision kernel (a whole update at 62 + 300 / 62 + 500
positions, tiny shape: 148 / 313 CPU ms against 164 / 359 in bfloat16; even at the 135M shape).

On a CUDA GPU, PyTorch's SDPA tries its cuDNN backend first for many inputs (those with a padding mask
among them, on Hopper and later), and cuDNN builds an execution plan for each new shape: tens to
hundreds of milliseconds a shape (a report against torch 2.11 on a B200: a fine-tuning step of an unseen
shape took 1 s against 0.1 s). rlvr meets a new shape at every decode step (the keys grow by one) and at most
micro-batches (each pass is trimmed to its own longest prompt and response). On an H200 rlvr's decode
ran on that backend and took ~62 ms a step inside the benchmark against 15.9 ms after a warm-up over the
same lengths. So ``set_cudnn_attention`` turns the backend off when a model loads onto a GPU
(``model.cudnn_attention``, default false); SDPA then runs its flash or memory-efficient kernels, which
need no plan. Not yet timed on a GPU (``benchmarks/gpu_grpo.py --cudnn-sdp``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from rlvr.models.memory import head_dim

EAGER_MAX_LEN = 64
HALF_EAGER_MAX_LEN = 160
HALF_EAGER_MIN_HEAD_DIM = 64
FLOAT32_MAX_LEN = 512
FLOAT32_SDPA = "rlvr_sdpa_float32"
"""The name under which ``sdpa_in_float32`` is registered with transformers' attention functions."""


@contextlib.contextmanager
def short_sequence_attention(model: torch.nn.Module, seq_len: int) -> Iterator[None]:
    """Run ``model`` with eager attention inside the block when it is an SDPA model on CPU and passes are
    at most ``EAGER_MAX_LEN`` long (``HALF_EAGER_MAX_LEN`` for a half-precision one with heads of at least
    ``HALF_EAGER_MIN_HEAD_DIM``), with SDPA in float32 when it is a half-precision one and they are at most
    ``FLOAT32_MAX_LEN``; otherwise leave it as it is. The setting is the model's own (its config), so
    nothing else may run this model object meanwhile (the learner's passes are sequential)."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    first = next(model.parameters())
    set_attn = getattr(model, "set_attn_implementation", None)  # transformers' PreTrainedModel method
    if current != "sdpa" or first.device.type != "cpu" or set_attn is None or _checkpointed(model):
        yield
        return
    half = first.dtype in (torch.bfloat16, torch.float16)
    wide = (_head_dim(config) or 0) >= HALF_EAGER_MIN_HEAD_DIM
    if seq_len <= (HALF_EAGER_MAX_LEN if half and wide else EAGER_MAX_LEN):
        chosen = "eager"
    elif half and seq_len <= FLOAT32_MAX_LEN:
        chosen = _register_float32_sdpa()
    else:
        yield
        return
    set_attn(chosen)
    try:
        yield
    finally:
        set_attn(current)


def set_cudnn_attention(enabled: bool, device: torch.device) -> None:
    """Let PyTorch's SDPA use its cuDNN backend (``enabled``) or not, process-wide, when ``device`` is a
    CUDA GPU; nothing elsewhere (the CPU has no such backend, and a CPU run leaves the flag as it is)."""
    if device.type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(enabled)


def _head_dim(config: Any) -> int | None:
    """``rlvr.models.memory.head_dim`` of a transformers config, None when it does not say."""
    try:
        return head_dim(config)
    except AttributeError:
        return None


def sdpa_in_float32(module, query, key, value, attention_mask, *args, **kwargs):
    """transformers' SDPA attention on float32 copies of ``query``, ``key``, ``value`` and a float mask;
    the output in the queries' dtype (the attention weights are None, as SDPA's)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    mask = attention_mask
    if mask is not None and mask.is_floating_point():
        mask = mask.float()
    out, weights = sdpa_attention_forward(
        module, query.float(), key.float(), value.float(), mask, *args, **kwargs
    )
    return out.to(query.dtype), weights


def _register_float32_sdpa() -> str:
    """Register ``sdpa_in_float32`` and, under the same name, SDPA's mask builder: transformers builds no
    mask at all for an attention name without one, so padded keys would be attended to (the causal
    order alone is kept, from SDPA's ``is_causal``)."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(FLOAT32_SDPA, sdpa_in_float32)
    AttentionMaskInterface.register(FLOAT32_SDPA, sdpa_mask)
    return FLOAT32_SDPA


def _checkpointed(model: torch.nn.Module) -> bool:
    """Whether activation checkpointing is on: its backward pass recomputes the layers after this block
    has restored the model's own attention, so the switch would change what is recomputed."""
    return any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
