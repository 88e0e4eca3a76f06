"""PyTorch's own FSDP2 for the learner: the process group, the sharding, and gathered / sharded state.

A rank joins a ``torch.distributed`` group (NCCL when it has a GPU, gloo otherwise), then
:func:`shard_model` wraps every decoder layer and the whole model with ``fully_shard``: each rank keeps
1/world of every parameter, its gradient and its AdamW moments (DTensors sharded on dim 0); a layer's
parameters are all-gathered for its forward and backward and its gradients reduce-scattered after.

The gradients are reduce-scattered as SUMS (``set_gradient_divide_factor(1.0)``), not FSDP's default mean:
each rank's loss is aggregated with the mini-batch's global token and sequence counts
(:mod:`rlvr.distributed.sharded_learner`), so the ranks' losses add up to the loss of the whole
mini-batch and so do their gradients, exactly as micro-batches do in one process.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from rlvr.training.learner_config import LearnerConfig

log = logging.getLogger(__name__)


def node_address() -> tuple[str, int]:
    """This machine's address and a free TCP port: where rank 0 hosts the group's rendezvous."""
    try:  # the address Ray knows this node by (gethostname may resolve to a loopback address)
        import ray

        host = ray.util.get_node_ip_address() if ray.is_initialized() else ""
    except ImportError:
        host = ""
    host = host or socket.gethostbyname(socket.gethostname())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    return host, int(port)


def init_group(rank: int, world_size: int, host: str, port: int, timeout_s: float) -> str:
    """Join the learner's process group (NCCL with a GPU, gloo without); returns the backend's name."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(0)  # a Ray actor sees only its own GPU(s)
    dist.init_process_group(
        backend,
        init_method=f"tcp://{host}:{port}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )
    return backend


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated blocks of a transformer (``model.model.layers`` for Llama / Qwen, any ModuleList named
    ``layers``, ``h`` or ``blocks``): each becomes its own FSDP unit, gathered one at a time."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.split(".")[-1] in ("layers", "h", "blocks"):
            return list(module)
    return []


def shard_model(model: torch.nn.Module, cfg: LearnerConfig) -> torch.nn.Module:
    """Wrap ``model`` in place with ``fully_shard`` (each decoder layer, then the root, which holds the
    embeddings and the head: tied weights stay one parameter). Returns the model."""
    from torch.distributed.fsdp import (
        CPUOffloadPolicy,
        FSDPModule,
        MixedPrecisionPolicy,
        OffloadPolicy,
        fully_shard,
    )

    kw: dict[str, Any] = {"reshard_after_forward": cfg.reshard_after_forward}
    if cfg.mixed_precision == "bf16":
        kw["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    device = next(model.parameters()).device
    if cfg.offload and device.type == "cpu":
        log.info("learner.offload: the ranks run on CPUs, where there is nothing to offload; ignored")
    kw["offload_policy"] = CPUOffloadPolicy() if cfg.offload and device.type != "cpu" else OffloadPolicy()
    for layer in decoder_layers(model):
        fully_shard(layer, **kw)
    fully_shard(model, **kw)
    for module in model.modules():  # sums, not means: see the module docstring
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)  # plain SUM (gloo has no PREMUL_SUM)
    return model


def full_tensor(t: Tensor) -> Tensor:
    """A DTensor gathered into one plain tensor on every rank (a plain tensor as it is)."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def gathered_buckets(
    model: torch.nn.Module, bucket_bytes: float | None, on_device: bool = False
) -> Iterator[dict[str, Tensor]]:
    """The model's full state dict as CPU tensors (``on_device``: left on the device, for a NCCL
    broadcast), in buckets of at most ``bucket_bytes`` (None: one bucket). A collective: every rank must
    exhaust it; only rank 0 yields (the gathered parameters of the others are dropped at once). Off the
    device, the device holds one gathered parameter at a time."""
    rank0 = dist.get_rank() == 0
    bucket: dict[str, Tensor] = {}
    size = 0
    for name, value in model.state_dict().items():
        full = full_tensor(value)  # every rank takes part
        if not rank0:
            continue
        if bucket and bucket_bytes is not None and size + full.numel() * full.element_size() > bucket_bytes:
            yield bucket
            bucket, size = {}, 0
        bucket[name] = full.detach().clone() if on_device else full.detach().to("cpu", copy=True)
        size += full.numel() * full.element_size()
    if rank0:
        yield bucket


def all_reduce(t: Tensor, op: Any = dist.ReduceOp.SUM) -> Tensor:
    """``t`` summed (or ``op``) over the ranks, on ``t``'s device (moved through the GPU under NCCL)."""
    if dist.get_backend() == "nccl" and t.device.type != "cuda":
        out = t.cuda()
        dist.all_reduce(out, op=op)
        return out.to(t.device)
    out = t.clone()
    dist.all_reduce(out, op=op)
    return out


def sum_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Each key's values added over the ranks (a key missing on a rank counts 0)."""
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, values)
    keys = sorted({k for d in gathered for k in d})
    return {k: sum(float(d.get(k, 0.0)) for d in gathered) for k in keys}
