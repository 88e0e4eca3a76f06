"""Weight sync by collective broadcast: learner rank 0 -> every rollout worker, over a group of their own.

With ``learner.weight_sync: broadcast`` the weights do not go through Ray's object store. At start, the
sharded learner's rank 0 and the ``ray.rollout_workers`` rollout actors form a second process group, the
*weight-sync group* (rank 0: the learner, rank 1 + i: rollout worker i), NCCL when both sides have GPUs
(the separate-GPU path of ``docs/vllm.md``), gloo otherwise. It is a stateless group (a ``TCPStore`` at
rank 0's address and a ``ProcessGroupNCCL`` / ``ProcessGroupGloo`` built on it): the learner ranks' own
FSDP2 group stays the default group, which the rollout workers are not in.

After each update every learner rank gathers the state dict bucket by bucket (``learner.weight_sync_
bucket_mb``; a collective over the learner ranks), and rank 0 broadcasts each bucket to the rollout
workers: a header (names, dtypes, shapes; pickled into a byte tensor) and one flat byte buffer with the
bucket's tensors end to end (each at a 16-byte boundary), on the GPU under NCCL. A worker rebuilds the tensors as views of the buffer
and loads them (``load_state_dict(strict=False)`` for hf, ``load_weights`` for vLLM) before the next
bucket arrives; an empty header ends the sync. Neither side holds more than one bucket beyond its model.

The driver starts the learner's send (``LearnerGroup.ref("broadcast_weights")``: it does not wait) and
sends each rollout worker a :class:`BroadcastTicket` in place of the weights; the worker's
``set_weights`` receives. A restarted rollout worker is not in the group: its ``set_weights`` raises, and
the run stops (resume from the last checkpoint re-forms the group).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from rlvr.config import RunConfig
from rlvr.training.roles import RolloutRole


@dataclass(frozen=True)
class WeightGroup:
    """The weight-sync group: a c10d process group and the store it was formed on (kept alive with it)."""

    group: Any
    store: Any


@dataclass(frozen=True)
class BroadcastTicket:
    """Sent to a rollout worker instead of the weights: "receive them from the weight-sync group"."""

    backend: str


def sync_backend(cfg: RunConfig) -> str:
    """NCCL when the learner ranks and the rollout workers both have GPUs, gloo otherwise."""
    return "nccl" if cfg.ray.learner_gpus > 0 and cfg.ray.rollout_gpus > 0 else "gloo"


def form_weight_group(cfg: RunConfig, learner: Any, workers: list[Any]) -> BroadcastTicket:
    """Learner rank 0 and every rollout worker (handles) join one weight-sync group, concurrently (rank
    0's store waits for all); returns the ticket the learner client sends the workers at each sync."""
    backend = sync_backend(cfg)
    world = 1 + len(workers)
    host, port = learner.call("address")  # rank 0's node IP and a free port
    futures = [learner.submit("open_weight_group", backend, host, port, world)]
    futures += [
        w.submit("open_weight_group", backend, host, port, 1 + i, world) for i, w in enumerate(workers)
    ]
    for f in futures:
        f.result()
    return BroadcastTicket(backend)


def open_group(
    backend: str, host: str, port: int, rank: int, world_size: int, timeout_s: float
) -> WeightGroup:
    """Join the weight-sync group as ``rank`` of ``world_size`` (rank 0 hosts the store at host:port)."""
    timeout = timedelta(seconds=timeout_s)
    store = dist.TCPStore(host, port, world_size, is_master=rank == 0, timeout=timeout)
    prefixed = dist.PrefixStore("rlvr-weight-sync", store)
    group: Any
    if backend == "nccl":
        torch.cuda.set_device(0)  # a Ray actor sees only its own GPU(s)
        options = dist.ProcessGroupNCCL.Options()
        options._timeout = timeout
        group = dist.ProcessGroupNCCL(prefixed, rank, world_size, options)
    else:
        group = dist.ProcessGroupGloo(prefixed, rank, world_size, timeout)
    return WeightGroup(group, store)


def _broadcast(group: WeightGroup, t: Tensor) -> None:
    opts = dist.BroadcastOptions()
    opts.rootRank = 0
    group.group.broadcast([t], opts).wait()


def _device(backend: str) -> torch.device:
    return torch.device("cuda") if backend == "nccl" else torch.device("cpu")


def send_bucket(group: WeightGroup, backend: str, bucket: dict[str, Tensor]) -> None:
    """Rank 0: one bucket (an empty one ends the sync): its header, then its bytes in one buffer."""
    header = [(name, t.dtype, tuple(t.shape)) for name, t in bucket.items()]
    raw = torch.frombuffer(bytearray(pickle.dumps(header)), dtype=torch.uint8)
    device = _device(backend)
    _broadcast(group, torch.tensor([raw.numel()], dtype=torch.int64, device=device))
    _broadcast(group, raw.to(device))
    if bucket:
        parts = []
        for t in bucket.values():
            raw_t = t.detach().to(device).contiguous().reshape(-1).view(torch.uint8)
            parts += [
                raw_t,
                torch.zeros(_aligned(raw_t.numel()) - raw_t.numel(), dtype=torch.uint8, device=device),
            ]
        _broadcast(group, torch.cat(parts))


def receive_buckets(group: WeightGroup, backend: str) -> Iterator[dict[str, Tensor]]:
    """Rank > 0: the buckets rank 0 sends, one at a time, until the empty one."""
    device = _device(backend)
    while True:
        size = torch.zeros(1, dtype=torch.int64, device=device)
        _broadcast(group, size)
        raw = torch.empty(int(size.item()), dtype=torch.uint8, device=device)
        _broadcast(group, raw)
        header: list[tuple[str, torch.dtype, tuple[int, ...]]] = pickle.loads(raw.cpu().numpy().tobytes())
        if not header:
            return
        lengths = [math.prod(shape) * dtype.itemsize for _, dtype, shape in header]
        buffer = torch.empty(sum(_aligned(n) for n in lengths), dtype=torch.uint8, device=device)
        _broadcast(group, buffer)
        bucket, offset = {}, 0
        for (name, dtype, shape), n in zip(header, lengths, strict=True):
            bucket[name] = buffer[offset : offset + n].view(dtype).reshape(shape)
            offset += _aligned(n)
        yield bucket


def _aligned(nbytes: int) -> int:
    """Each tensor starts at a multiple of 16 bytes of the buffer, so a view of any dtype is aligned."""
    return (nbytes + 15) // 16 * 16


class BroadcastRolloutRole(RolloutRole):
    """A rollout worker that also receives the learner's weights by broadcast (:class:`BroadcastTicket`)."""

    group: WeightGroup | None = None

    def open_weight_group(self, backend: str, host: str, port: int, rank: int, world_size: int) -> None:
        self.group = open_group(backend, host, port, rank, world_size, self.cfg.learner.timeout_s)

    def set_weights(self, weights: Any, version: int) -> float:
        if not isinstance(weights, BroadcastTicket):
            return super().set_weights(weights, version)
        if self.group is None:
            raise RuntimeError(
                f"rollout worker {self.rank} is not in the weight-sync group (a restarted worker cannot "
                "rejoin it); resume the run from its last checkpoint to form the group again"
            )
        return super().set_weights(receive_buckets(self.group, weights.backend), version)
