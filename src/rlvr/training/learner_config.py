"""Configuration of the learner's processes: one, or a group sharded with PyTorch's FSDP2.

```yaml
backend: ray
learner:
  world_size: 8          # 8 learner actors forming one torch.distributed group (NCCL on GPUs, gloo on CPUs)
  nodes: 1
  mixed_precision: bf16  # bf16 parameters in forward/backward, fp32 gradient reduction and master weights
  offload: false         # FSDP2 CPUOffloadPolicy: parameters, gradients and AdamW states in host memory
placement: split         # split: learner and rollout engines on their own devices; colocated: shared
```

Nothing here imports torch: the rules of :func:`sharded_learner_rules` run when a recipe is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from rlvr.config import RunConfig


class LearnerConfig(BaseModel):
    """The learner's processes. ``world_size: 1`` (the default) is one process, as always; more shards the
    policy (and the reference model and the critic) over that many Ray actors with FSDP2 (``docs/distributed.md``)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    world_size: int = Field(1, ge=1)
    """Learner processes (ranks). Above 1: parameters, gradients and optimizer states are sharded over them
    with FSDP2 and each rank trains on its share of every mini-batch (needs ``backend: ray``). Each rank gets
    ``ray.learner_cpus`` CPUs and ``ray.learner_gpus`` GPUs."""
    fsdp: bool = False
    """Run the FSDP2 learner even with ``world_size: 1`` (one rank on one GPU: the sharded code path,
    its DCP checkpoints and gathered weight sync; e.g. to measure it). Above 1 rank it is always used."""
    nodes: int = Field(1, ge=1)
    """Machines the ranks span (world_size / nodes ranks a node); world_size must be a multiple of it.
    The ranks get a placement group of one bundle per node (a node's ranks' resources) with STRICT_SPREAD:
    with ``ray.learner_gpus: 1``, 16 ranks and ``nodes: 2`` need two nodes of 8 free GPUs; NCCL spans them."""
    mixed_precision: Literal["none", "bf16"] = "none"
    """'bf16': FSDP2 MixedPrecisionPolicy with bf16 parameters in forward and backward and gradients reduced
    in fp32 (the sharded master weights and AdamW states stay in model.dtype). 'none': model.dtype throughout."""
    offload: bool = False
    """FSDP2 CPUOffloadPolicy: the sharded parameters, gradients and AdamW states live in host memory and the
    optimizer steps on the CPU (saves ~16 bytes per parameter / world_size of GPU memory; slower steps).
    Only meaningful on GPUs; ignored (with a log line) when the ranks run on CPUs."""
    reshard_after_forward: bool = True
    """FSDP2's ZeRO-3 behaviour: free each layer's gathered parameters after its forward and gather them
    again for the backward. False keeps them to the backward (ZeRO-2-like: less traffic, more memory)."""
    weight_sync_bucket_mb: float | None = Field(None, gt=0)
    """Weight sync from a sharded learner: None gathers the whole state dict (one parameter at a time on
    the device, all of it in rank 0's host memory) and sends it as one object. A size in MiB sends it in
    buckets of at most that many MiB, each gathered, put in the object store and loaded by the rollout
    workers before the next is gathered, so rank 0 never holds the whole model."""
    weight_sync: Literal["object_store", "broadcast"] = "object_store"
    """How a sharded learner's weights reach the rollout workers. 'object_store': rank 0 puts the gathered
    weights (or each bucket) into Ray's object store and the workers fetch them. 'broadcast': rank 0 and
    the rollout workers form a process group of their own at start (NCCL when learner and rollout actors
    have GPUs, the separate-GPU path; gloo otherwise) and rank 0 broadcasts each gathered bucket to all
    workers (needs ``placement: split``: NCCL cannot put two ranks on one GPU)."""
    timeout_s: float = Field(600.0, gt=0)
    """How long a collective may wait for the other ranks before the process group gives up."""


Placement = Literal["split", "colocated"]
"""'split': learner ranks and rollout engines on separate devices (bundles). 'colocated': rollout worker i
shares learner rank i's bundle (GPU); a vLLM engine sleeps (frees its weights and KV cache) while the
learner updates and wakes for generation."""


def is_sharded(cfg: RunConfig) -> bool:
    """Whether the learner runs as FSDP2 ranks (Ray actors) rather than one plain process."""
    return cfg.learner.world_size > 1 or cfg.learner.fsdp


def sharded_learner_rules(cfg: RunConfig) -> list[str]:
    """Load-time checks of ``learner`` and ``placement``."""
    lc, problems = cfg.learner, []
    if lc.world_size % lc.nodes:
        problems.append(
            f"learner.world_size: {lc.world_size} ranks cannot be split evenly over learner.nodes={lc.nodes}; "
            "use a multiple of the node count"
        )
    if lc.world_size > 1 or lc.fsdp:
        if cfg.backend != "ray":
            problems.append(
                f"learner.world_size: {lc.world_size} learner ranks run as Ray actors; set backend: ray "
                "(ray.num_cpus / learner_cpus / learner_gpus size them)"
            )
        if cfg.model.lora is not None:
            problems.append(
                "learner.world_size: a sharded learner trains full weights; model.lora is not supported "
                "with world_size > 1 (drop the lora section or use world_size: 1)"
            )
        if 0 < cfg.ray.learner_gpus < 1 and cfg.placement == "split":
            problems.append(
                f"ray.learner_gpus: {cfg.ray.learner_gpus} would put several learner ranks on one GPU, which "
                "NCCL refuses; give each rank a whole GPU (1), or use placement: colocated to share a GPU "
                "with a rollout engine"
            )
        if cfg.critic is not None and cfg.critic.lora is not None:
            problems.append(
                "critic.lora: a sharded learner shards the critic's full weights; critic.lora is not "
                "supported with a sharded learner (drop critic.lora or use learner.world_size: 1)"
            )
    if lc.weight_sync == "broadcast" and not (lc.world_size > 1 or lc.fsdp):
        problems.append(
            "learner.weight_sync: 'broadcast' is the sharded learner's (learner.world_size > 1 or "
            "learner.fsdp: true); one learner process sends its weights through the object store"
        )
    if lc.weight_sync == "broadcast" and cfg.placement == "colocated":
        problems.append(
            "learner.weight_sync: 'broadcast' needs placement: split (a NCCL group cannot hold a learner "
            "rank and a rollout engine on the same GPU); colocated engines load through the object store"
        )
    if cfg.placement == "colocated":
        if cfg.backend != "ray":
            problems.append("placement: 'colocated' places Ray actors on shared bundles; set backend: ray")
        if cfg.ray.rollout_workers != lc.world_size:
            problems.append(
                f"placement: 'colocated' puts rollout worker i on learner rank i's device, so "
                f"ray.rollout_workers ({cfg.ray.rollout_workers}) must equal learner.world_size ({lc.world_size})"
            )
        if cfg.trainer.max_staleness:
            problems.append(
                "placement: 'colocated' alternates generation and updates on the same devices; "
                f"trainer.max_staleness must be 0 (got {cfg.trainer.max_staleness})"
            )
    return problems
