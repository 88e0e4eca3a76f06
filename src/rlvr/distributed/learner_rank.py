"""One rank of a sharded learner: the learner role on an FSDP2 process group.

Every rank runs the same calls in the same order (the :class:`~rlvr.distributed.learner_group.LearnerGroup`
sends each call to all ranks); rank 0's result is the group's. The model is built from the run's seed on
every rank (the same initial weights), then sharded; so are the frozen reference model when KL needs one
and PPO's critic (:mod:`rlvr.distributed.sharded_critic`) when the run has a ``critic:`` section.

- ``weights``: the full state dict gathered one parameter at a time (rank 0 returns it; with
  ``learner.weight_sync_bucket_mb``, a list of buckets in the Ray object store instead);
  ``broadcast_weights``: the same buckets broadcast by rank 0 over the weight-sync group
  (``learner.weight_sync: broadcast``, :mod:`rlvr.distributed.weight_broadcast`).
- ``save_checkpoint``: rank 0 writes rlvr's atomic checkpoint directory (tokenizer, config.json,
  schedule, RNG, sampler, manifest) and every rank writes its shards of the model and AdamW states (and
  of the critic and its AdamW states) into its ``dcp/`` folder with ``torch.distributed.checkpoint``,
  before the manifest is written.
- ``restore``: a DCP checkpoint of any world size, or a one-process checkpoint (whole weights and an
  AdamW state keyed by parameter index).
- ``save``: the gathered weights as a plain Hugging Face model directory (rank 0 writes it).
- ``reset_reference`` (ProRL) is the one-process role's: ``load_state_dict`` of the policy's DTensor shards
  into the reference's (the same sharding) on every rank.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from rlvr.config import RunConfig
from rlvr.distributed.fsdp import gathered_buckets, init_group, node_address, shard_model
from rlvr.distributed.sharded_critic import build_sharded_critic
from rlvr.distributed.sharded_learner import ShardedLearner
from rlvr.models.load import frozen_copy, load_model, load_tokenizer
from rlvr.training.checkpoint import Checkpoint, CheckpointState, save_checkpoint
from rlvr.training.dcp_checkpoint import DCP_DIR, load_training_state, load_whole_state, training_state
from rlvr.training.roles import LearnerRole, learner_kwargs
from rlvr.training.seeding import seed_everything

log = logging.getLogger(__name__)


class ShardedLearnerRole(LearnerRole):
    """Rank ``rank`` of ``world_size``. Built in two steps (a Ray actor first starts, then all ranks
    :meth:`join` the group together): ``ShardedLearnerRole(cfg, rank, world_size).join(host, port)``."""

    def __init__(self, cfg: RunConfig, rank: int, world_size: int) -> None:
        # LearnerRole.__init__ builds the model at once; a rank builds it in join(), after the group forms
        self.cfg, self.rank, self.world_size = cfg, rank, world_size
        self.critic = None  # built in join()
        self.weight_group: Any = None  # learner.weight_sync: broadcast, rank 0
        self.sync_backend = "gloo"

    def ping(self) -> bool:
        return True

    def address(self) -> tuple[str, int]:
        """Where this rank (rank 0) hosts the group's rendezvous."""
        return node_address()

    def join(self, host: str, port: int) -> str:
        """Join the process group, build and shard the policy (and reference, and critic) and their
        optimizers; returns the collective backend's name."""
        cfg = self.cfg
        if dist.is_initialized():  # launched as a group already (rlvr.distributed.spawn)
            backend = str(dist.get_backend())
        else:
            backend = init_group(self.rank, self.world_size, host, port, cfg.learner.timeout_s)
        seed_everything(cfg.trainer.seed)
        self.tokenizer = load_tokenizer(cfg.model)
        # whole on the CPU, then fully_shard moves each rank's shards to its device: a GPU never holds the
        # whole model (host memory does, once a rank, while the model loads)
        model = load_model(cfg.model.model_copy(update={"device": "cpu"}), self.tokenizer)
        self.architecture = type(model).__name__
        reference = frozen_copy(model) if cfg.algorithm.kl_coef > 0 else None
        self.critic = build_sharded_critic(cfg, model)  # from the whole policy: before it is sharded
        self.model = shard_model(model, cfg.learner)
        if reference is not None:
            shard_model(reference, cfg.learner)
        from rlvr.algorithms import ADVANTAGES

        self.advantage_fn = ADVANTAGES.get(cfg.algorithm.advantage)
        self.learner = ShardedLearner(self.model, reference=reference, **learner_kwargs(cfg))
        log.info("learner rank %d/%d joined (%s)", self.rank, self.world_size, backend)
        return backend

    def train_on(self, batch, scores, group_index, episodes=None) -> dict[str, float]:
        """The update (every rank its share); on GPUs also this rank's peak memory since the last step."""
        metrics = super().train_on(batch, scores, group_index, episodes)
        if torch.cuda.is_available():
            metrics["perf/learner_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            torch.cuda.reset_peak_memory_stats()
        return metrics

    # ---- weights for the rollout workers --------------------------------------------------------------
    def weights(self) -> Any:
        """Rank 0: the full state dict on CPU (or, with ``learner.weight_sync_bucket_mb``, a
        :class:`WeightBuckets` of object-store buckets); other ranks take part and return None."""
        mb = self.cfg.learner.weight_sync_bucket_mb
        buckets = gathered_buckets(self.model, None if mb is None else mb * 2**20)
        if mb is None:
            whole = [b for b in buckets]
            return whole[0] if self.rank == 0 else None
        import ray

        refs = [ray.put(b) for b in buckets]  # one bucket in this process at a time
        return WeightBuckets(refs) if self.rank == 0 else None

    def open_weight_group(self, backend: str, host: str, port: int, world_size: int) -> None:
        """Rank 0 joins the weight-sync group as its rank 0 (hosting its store); other ranks do nothing."""
        from rlvr.distributed.weight_broadcast import open_group

        self.sync_backend = backend
        if self.rank == 0:
            self.weight_group = open_group(backend, host, port, 0, world_size, self.cfg.learner.timeout_s)

    def broadcast_weights(self) -> None:
        """Every rank gathers the buckets; rank 0 broadcasts each to the rollout workers, then an end mark."""
        from rlvr.distributed.weight_broadcast import send_bucket

        mb = self.cfg.learner.weight_sync_bucket_mb
        nccl = self.sync_backend == "nccl"
        for bucket in gathered_buckets(self.model, None if mb is None else mb * 2**20, on_device=nccl):
            send_bucket(self.weight_group, self.sync_backend, bucket)  # only rank 0 gets buckets
        if self.rank == 0:
            send_bucket(self.weight_group, self.sync_backend, {})

    # ---- checkpoints ----------------------------------------------------------------------------------
    def _dcp_state(self, with_reference: bool) -> dict[str, Any]:
        state = training_state(self.model, self.learner.optimizer, self.critic)
        ref = self.learner.reference
        if with_reference and isinstance(ref, torch.nn.Module):
            from torch.distributed.checkpoint.state_dict import get_model_state_dict

            state["reference"] = get_model_state_dict(ref)
        return state

    def _write_shards(self, folder: Path | None, with_reference: bool) -> None:
        """Every rank: agree on rank 0's temporary checkpoint folder, write this rank's shards into it."""
        import torch.distributed.checkpoint as dcp

        box: list[Any] = [None if folder is None else str(folder)]
        dist.broadcast_object_list(box, src=0)
        dcp.save(self._dcp_state(with_reference), checkpoint_id=str(Path(box[0]) / DCP_DIR))

    def save_checkpoint(
        self, run_dir: Path, state: CheckpointState, keep_last: int, with_reference: bool
    ) -> Path:
        """Rank 0 writes the atomic checkpoint directory; every rank writes its DCP shards inside it."""
        if self.rank != 0:
            self._write_shards(None, with_reference)
            dist.barrier()
            return Path(run_dir)
        state.scheduler = self.learner.scheduler.state_dict()
        state.counters = self.learner.counters()
        state.optimizer = {}  # in dcp/, with the weights
        if self.critic is not None:  # its weights and AdamW states are in dcp/ too
            state.objects = {**state.objects, "critic": {"scheduler": self.critic.scheduler.state_dict()}}
        shards = _ShardWriter(self, with_reference)
        path = save_checkpoint(run_dir, shards, self.tokenizer, state, keep_last)
        dist.barrier()
        return path

    def restore(self, ckpt: Checkpoint) -> None:
        """A DCP checkpoint (any world size), or a one-process checkpoint's whole weights and AdamW state;
        the critic's likewise."""
        critic, optimizer = self.critic, self.learner.optimizer
        if critic is not None and "critic" not in ckpt.state.objects:
            raise ValueError(f"checkpoint {ckpt.path} has no critic; the run's config has a critic: section")
        if ckpt.sharded:
            load_training_state(self.model, optimizer, ckpt.path, self.learner.reference, critic)
        else:
            if ckpt.adapter:
                raise ValueError(
                    f"checkpoint {ckpt.path} holds a LoRA adapter; a sharded learner trains full weights"
                )
            load_whole_state(self.model, optimizer, ckpt.weights, ckpt.state.optimizer)
            if critic is not None:
                whole = ckpt.state.objects["critic"]["optimizer"]
                load_whole_state(critic.model, critic.optimizer, ckpt.state.tensors["critic"], whole)
        if critic is not None:
            critic.scheduler.load_state_dict(ckpt.state.objects["critic"]["scheduler"])
        self.learner.scheduler.load_state_dict(ckpt.state.scheduler)
        self.learner.load_counters(ckpt.state.counters)

    def save(self, path: Path) -> Path:
        """The gathered policy as a Hugging Face model directory (rank 0 writes it; a collective)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        full = get_model_state_dict(self.model, options=options)
        if self.rank == 0:
            self.model.save_pretrained(path, state_dict=full)
            _fix_architecture(Path(path), self.architecture)
            self.tokenizer.save_pretrained(path)
        dist.barrier()
        return Path(path)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


class _ShardWriter:
    """What :func:`rlvr.training.checkpoint.save_checkpoint` calls ``save_pretrained`` on: the model's
    config.json, and the DCP shards of every rank (rank 0's own included) in the checkpoint's ``dcp/``."""

    def __init__(self, role: ShardedLearnerRole, with_reference: bool) -> None:
        self.role, self.with_reference = role, with_reference

    def save_pretrained(self, folder: Path) -> None:
        self.role.model.config.save_pretrained(folder)
        _fix_architecture(Path(folder), self.role.architecture)
        self.role._write_shards(Path(folder), self.with_reference)


class WeightBuckets:
    """The policy's weights as Ray object-store buckets: iterating fetches one bucket at a time (what a
    rollout worker loads before it fetches the next)."""

    def __init__(self, refs: list[Any]) -> None:
        self.refs = refs

    def __iter__(self):
        import ray

        for ref in self.refs:
            yield ray.get(ref)


def _fix_architecture(folder: Path, architecture: str) -> None:
    """config.json names the model's own class, not FSDP2's wrapper class (``FSDPLlamaForCausalLM``)."""
    file = folder / "config.json"
    config = json.loads(file.read_text())
    config["architectures"] = [architecture]
    file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
