"""A CUDA graph's semantics on the CPU, for tests: record the aten operators of one call, replay them.

``AtenGraph(step)`` runs ``step`` once under a dispatch mode that records every aten operator with its
arguments, then ``replay`` runs the recorded operators again on the same tensors, without running any
Python of ``step``: what a CUDA graph does. A step that reads a Python value that changes between calls
(a host-side counter, a list it rebinds), or whose operators depend on host-side branches, replays the
first call's values, as a captured graph would. Operators a capture cannot hold (those that copy a value
to the host) raise at recording, as CUDA's capture would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

# operators that read a device value on the host: a stream capture fails on them
HOST_READS = {"_local_scalar_dense", "nonzero", "is_nonzero", "equal", "allclose"}


class _Recorder(TorchDispatchMode):
    def __init__(self, ops: list) -> None:
        super().__init__()
        self.ops = ops

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if name in HOST_READS:
            raise RuntimeError(
                f"aten.{name} reads a device value on the host: a CUDA graph cannot capture it"
            )
        out = func(*args, **kwargs)
        self.ops.append((func, args, kwargs, out))
        return out


class AtenGraph:
    """``graphed_steps.CUDAStepGraph``'s interface: ``first`` (the recorded call's result) and ``replay``."""

    def __init__(self, step: Callable[[], torch.Tensor], pool: Any = None) -> None:
        self.ops: list = []  # keeps every recorded tensor alive, so their ids stay unique
        with _Recorder(self.ops), torch.no_grad():
            self.first = step()

    def replay(self) -> torch.Tensor:
        made: dict[int, torch.Tensor] = {}  # id of a recorded result -> this replay's

        def now(x):
            return made.get(id(x), x) if isinstance(x, torch.Tensor) else x

        with torch.no_grad():
            for func, args, kwargs, out in self.ops:
                result = func(*tree_map(now, args), **tree_map(now, kwargs))
                for before, after in zip(tree_flatten(out)[0], tree_flatten(result)[0], strict=True):
                    if isinstance(before, torch.Tensor):
                        made[id(before)] = after
        return made[id(self.first)]
