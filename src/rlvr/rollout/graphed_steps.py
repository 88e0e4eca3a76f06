"""The fast decoder's decode step as a CUDA graph: one launch a step instead of ~400 (``rollout.cuda_graphs``).

On a GPU, a small model's decode step is bound by the host: each of its kernels takes a few microseconds
on the device and about as long to launch (``docs/performance.md``, "Where the GPU time goes": 0.65 s of
kernels against 4.15 s of host time over one 0.5B generation). A CUDA graph records the step's kernels
once and replays them with one launch. A graph replays fixed addresses and shapes, so the step reads
nothing that changes from the host:

- the tokens and positions are copied into buffers of the graph's own before each replay;
- the KV cache is a ``StaticKVBuffers``: each step writes its position at a device counter and attends
  over the whole capacity, and an additive mask (b or 1, 1, 1, capacity) of the graph's own hides the
  positions not yet written (a column is opened by the step itself, on the device, before it writes it);
- the rotary embedding is looked up from the table ``FastDecoder.rope_table`` made at prefill.

The sampler stays outside the graph (its uniforms come from ``RowUniforms``), and so do the host's looks
at which rows finished. Dropping finished rows (``keep``) makes new buffers, so the next step captures a
new graph (that step runs eagerly, as the capture's warm-up); a chunk captures one graph per batch size
it decodes at, a few in all. The math is ``FastSteps``': the masked positions have weight exactly 0, so
only the attention kernel's summation order over a longer row can differ (``tests/rollout/
test_graphed_steps.py``: on the CPU, the step's aten operators recorded once and replayed with no Python).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rlvr.models.fast_decoder import FastDecoder, StaticKVBuffers
from rlvr.rollout.decode_steps import fast_prefill

Pool = Any
"""What ``torch.cuda.graph_pool_handle`` returns (its type is private to torch): the memory pool that a
chunk's graphs share."""


class CUDAStepGraph:
    """A decode step captured as a CUDA graph. Making it runs the step once on a side stream (the warm-up a
    capture needs; it is a real step: ``first`` holds its logits), then records it on that stream:
    recording runs no kernel, so the step's own in-place updates (the KV write, the counter) happen once
    per run or replay. ``capture_begin`` / ``capture_end`` rather than ``torch.cuda.graph``, which
    synchronizes the device and empties the allocator's cache at every capture (a chunk captures again
    each time finished rows leave the batch)."""

    def __init__(self, step: Callable[[], Tensor], pool: Pool | None) -> None:
        side = _capture_stream(torch.cuda.current_device())
        side.wait_stream(torch.cuda.current_stream())
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.stream(side):
            self.first = step()
            # thread_local: a reward or learner thread's CUDA calls during the capture are not an error
            self.graph.capture_begin(pool, capture_error_mode="thread_local")
            try:
                self.output = step()
            finally:
                self.graph.capture_end()
        torch.cuda.current_stream().wait_stream(side)

    def replay(self) -> Tensor:
        """The next step's logits, in a tensor of the graph's own that the next replay overwrites."""
        self.graph.replay()
        return self.output


@functools.cache
def _capture_stream(device: int) -> torch.cuda.Stream:
    """One side stream a device for warm-ups and captures (its freed blocks stay with it in the allocator)."""
    return torch.cuda.Stream(device)


class EagerStepGraph:
    """``CUDAStepGraph``'s stand-in where there is no CUDA (the tests): each replay runs the step again,
    reading the same buffers the graph would."""

    def __init__(self, step: Callable[[], Tensor], pool: Pool | None = None) -> None:
        self.step = step
        self.first = step()

    def replay(self) -> Tensor:
        return self.step()


StepGraph = CUDAStepGraph | EagerStepGraph


def graphs_run_on(device: torch.device) -> bool:
    """Whether a decode step on ``device`` can be captured (CUDA only)."""
    return device.type == "cuda"


class GraphedSteps:
    """``FastSteps`` (``rlvr.rollout.decode_steps``) with each decode step a replay of a captured graph (see
    the module docstring); the same prefill / decode / keep / pack interface."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.decoder = FastDecoder(model, pack=False)  # nothing to pack on a GPU
        self.cache: StaticKVBuffers | None = None
        self.rope: tuple[Tensor, Tensor] | None = None  # cos, sin (capacity, 1, 1, D) by position
        self.bias: Tensor | None = None  # (b or 1, 1, 1, capacity): the prompts' padding, unwritten positions
        self.tokens: Tensor | None = None  # (b,) the graph's inputs
        self.positions: Tensor | None = None
        self.graph: StepGraph | None = None
        self.pool: Pool | None = None  # one memory pool for the chunk's graphs

    def prefill(
        self, input_ids: Tensor, positions: Tensor, prompt_mask: Tensor | None, owner: Tensor, capacity: int
    ) -> Tensor:
        logits, cache, self.rope, key_mask = fast_prefill(
            self.decoder, input_ids, positions, prompt_mask, owner, capacity
        )
        self.cache = StaticKVBuffers.of(cache)
        if key_mask is None:  # no padding: one row of the mask serves every row
            key_mask = torch.ones((1, capacity), dtype=torch.long, device=input_ids.device)
        key_mask[:, input_ids.size(1) :] = 0  # not yet decoded
        self.bias = self.decoder.key_bias(key_mask)
        self.graph = None
        if self.pool is None and graphs_run_on(input_ids.device):
            self.pool = torch.cuda.graph_pool_handle()
        return logits

    def decode(self, tokens: Tensor, positions: Tensor) -> Tensor:
        if self.graph is None or self.tokens is None or self.positions is None:
            self.tokens, self.positions = tokens.clone(), positions.clone()
            graph = CUDAStepGraph if graphs_run_on(tokens.device) else EagerStepGraph
            self.graph = graph(self._step, self.pool)
            return self.graph.first
        self.tokens.copy_(tokens)
        self.positions.copy_(positions)
        return self.graph.replay()

    def keep(self, rows: Tensor) -> None:
        cache, bias = self._state()
        cache.select(rows)
        if bias.size(0) > 1:
            self.bias = bias.index_select(0, rows)
        self.graph = None  # new buffers: the next step captures again

    def pack(self) -> None:
        """Nothing to pack: packing is for bfloat16 weights on the CPU, and graphs run on CUDA."""

    def _step(self) -> Tensor:
        """One decode step reading only the graph's buffers: open the new position's column of the mask,
        then the decoder's forward (which writes the position at ``cache.at`` and advances it)."""
        cache, bias = self._state()
        assert self.rope is not None and self.tokens is not None and self.positions is not None
        bias.index_fill_(-1, cache.at, 0.0)
        cos, sin = self.rope
        rope = (cos.index_select(0, self.positions), sin.index_select(0, self.positions))
        return self.decoder.forward(self.tokens[:, None], rope, bias, cache)

    def _state(self) -> tuple[StaticKVBuffers, Tensor]:
        if self.cache is None or self.bias is None:
            raise RuntimeError("decode() or keep() before prefill(): there is no cache yet")
        return self.cache, self.bias
