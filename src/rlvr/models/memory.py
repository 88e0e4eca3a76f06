"""Memory: what a KV cache costs, and out-of-memory errors that name the setting to lower.

An allocation that fails deep inside a forward pass says only how many bytes it wanted. ``hint`` turns
the three ways it surfaces (``torch.OutOfMemoryError`` on a GPU, ``MemoryError``, and the CPU
allocator's ``RuntimeError``) into ``OutOfMemory``, whose message names the part of the step that ran
out and the settings that bound its memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


class OutOfMemory(MemoryError):
    """A step ran out of memory; the message names the settings that bound it."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed allocation (CUDA, CPU or Python)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("out of memory", "can't allocate memory", "bad_alloc")
    )


@contextlib.contextmanager
def hint(where: str, settings: str) -> Iterator[None]:
    """Re-raise an out-of-memory error inside the block as ``OutOfMemory`` naming ``settings``."""
    try:
        yield
    except OutOfMemory:
        raise
    except BaseException as exc:
        if not is_out_of_memory(exc):
            raise
        first_line = str(exc).strip().split("\n")[0][:300]
        raise OutOfMemory(
            f"{where} ran out of memory ({type(exc).__name__}: {first_line}); {settings}"
        ) from exc


def head_dim(config: Any) -> int:
    """The width of one attention head of a transformers (text) config: its ``head_dim``, else
    hidden_size / num_attention_heads (AttributeError when it has neither)."""
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def kv_cache_bytes_per_token(model: torch.nn.Module, dtype: torch.dtype | None = None) -> int:
    """Bytes of keys and values one sequence position holds across all layers, in ``dtype`` (None: the
    model's own)."""
    config: Any = model.config  # a transformers PretrainedConfig: its fields depend on the architecture
    config = getattr(config, "text_config", None) or config
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    itemsize = (dtype or next(model.parameters()).dtype).itemsize
    return 2 * config.num_hidden_layers * kv_heads * head_dim(config) * itemsize
