"""The attention kernel for the learner's passes over short sequences on CPU.

PyTorch's fused CPU attention (SDPA's flash kernel) is built for long sequences. For the short ones of
small RL tasks (tens of positions), transformers' eager attention (matmul, softmax, matmul) is as fast
on one thread and about 2x faster forward + backward on two or more, since its batched matmuls use all
threads; on a 2-thread CPU that took ~18% off a whole learner update of the quickstart model. Past
``EAGER_MAX_LEN`` positions the fused kernel wins, and on GPUs it always does, so the switch is
limited to CPU, short sequences and models that use SDPA, and off under activation checkpointing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

EAGER_MAX_LEN = 64


@contextlib.contextmanager
def short_sequence_attention(model: torch.nn.Module, seq_len: int) -> Iterator[None]:
    """Run ``model`` with eager attention inside the block when it is an SDPA model on CPU and passes are
    at most ``EAGER_MAX_LEN`` long; otherwise leave it as it is. The setting is the model's own (its
    config), so nothing else may run this model object meanwhile (the learner's passes are sequential)."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    on_cpu = next(model.parameters()).device.type == "cpu"
    if (
        current != "sdpa"
        or not on_cpu
        or seq_len > EAGER_MAX_LEN
        or not hasattr(model, "set_attn_implementation")
        or _checkpointed(model)
    ):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(current)


def _checkpointed(model: torch.nn.Module) -> bool:
    """Whether activation checkpointing is on: its backward pass recomputes the layers after this block
    has restored the model's own attention, so the switch would change what is recomputed."""
    return any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
