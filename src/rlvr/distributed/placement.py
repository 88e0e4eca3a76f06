"""Where the roles run: the one place that reads ``backend``.

``local``: the learner, one rollout worker and the reward router live in this process. Synchronous hf
runs share one model object between learner and engine (weight sync is free); asynchronous runs
(``trainer.max_staleness > 0``) and vLLM give the rollout worker its own copy, refreshed after every
update.

``ray``: one learner actor (or ``learner.world_size`` FSDP2 ranks) and ``ray.rollout_workers`` rollout
actors in placement groups (:mod:`rlvr.distributed.layout`), plus ``ray.reward_workers`` reward actors. Weights travel learner -> object store -> rollout actors, never
through the driver.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

from rlvr.config import RunConfig
from rlvr.distributed.handles import Handle, LocalHandle
from rlvr.distributed.pools import RewardPool, RolloutPool
from rlvr.models.load import load_tokenizer
from rlvr.rewards.factory import router_for
from rlvr.training.batch import TokenBatch
from rlvr.training.checkpoint import Checkpoint, CheckpointState
from rlvr.training.learner_config import is_sharded
from rlvr.training.protocols import Roles
from rlvr.training.roles import LearnerRole, RewardRole, RolloutRole

log = logging.getLogger(__name__)


class LearnerClient:
    """The learner role behind a handle, as the loop's :class:`~rlvr.training.protocols.LearnerProtocol`:
    each method is one call on the handle (in this process, or on the Ray actor)."""

    def __init__(self, handle: Handle, broadcast: Any = None) -> None:
        self.handle = handle
        self.broadcast = broadcast  # a BroadcastTicket with learner.weight_sync: broadcast

    @property
    def local(self) -> LearnerRole | None:
        """The learner object itself when it lives in this process (tests and scripts poke at it)."""
        return getattr(self.handle, "role", None)

    def train_on(
        self, batch: TokenBatch, scores: Tensor, group_index: Tensor, episodes: Any = None
    ) -> dict[str, float]:
        return self.handle.call("train_on", batch, scores, group_index, episodes)

    def nonfinite_streak(self) -> int:
        return self.handle.call("nonfinite_streak")

    def weights(self) -> Any:
        """A state dict, or a Ray ObjectRef of one (the weights then go to the rollout actors through the
        object store, never through the driver); with ``learner.weight_sync: broadcast``, a ticket that
        tells the rollout workers to receive the weights the learner ranks start broadcasting now."""
        if self.broadcast is not None:
            self.handle.start("broadcast_weights")  # type: ignore[attr-defined]
            return self.broadcast
        ref = getattr(self.handle, "ref", None)
        return ref("weights") if callable(ref) else self.handle.call("weights")

    def reset_reference(self) -> None:
        self.handle.call("reset_reference")

    def save_checkpoint(
        self, run_dir: Path, state: CheckpointState, keep_last: int, with_reference: bool
    ) -> Path:
        return self.handle.call("save_checkpoint", run_dir, state, keep_last, with_reference)

    def restore(self, ckpt: Checkpoint) -> None:
        self.handle.call("restore", ckpt)

    def save(self, path: Path) -> Path:
        return self.handle.call("save", path)

    def close(self) -> None:
        self.handle.close()


def local_learner(roles: Roles) -> LearnerRole:
    """The learner object of a ``backend: local`` run (its model, optimizer and reference)."""
    role = getattr(roles.learner, "local", None)
    if role is None:
        raise AttributeError("the learner lives in a Ray actor (backend: ray); it has no local object")
    return role


def local_rollout(roles: Roles) -> RolloutRole:
    """The first rollout worker of a ``backend: local`` run (its engine and model)."""
    pool = roles.rollout
    role = getattr(pool.workers[0], "role", None) if isinstance(pool, RolloutPool) else None
    if role is None:
        raise AttributeError("the rollout workers live in Ray actors (backend: ray); no local object")
    return role


def build_roles(cfg: RunConfig, scratch_dir: Path | None = None) -> Roles:
    """The learner, rollout and reward roles of ``cfg`` (``backend: local`` or ``ray``), ready for
    ``RLTrainer(cfg, roles)``, which closes them. ``scratch_dir`` is where a vLLM engine reads the initial
    policy of a model built in memory; None uses a temporary directory under ``trainer.output_dir`` (where
    run directories live, so on a cluster the learner and rollout actors share it), removed at close."""
    if cfg.rollout.engine == "vllm" and cfg.model.path is None and scratch_dir is None:
        Path(cfg.trainer.output_dir).mkdir(parents=True, exist_ok=True)
        tmp = tempfile.TemporaryDirectory(prefix=".rollout-init-", dir=cfg.trainer.output_dir)
        roles = _build(cfg, Path(tmp.name))
        roles.on_close = _then(roles.on_close, tmp.cleanup)
        return roles
    return _build(cfg, scratch_dir or Path("."))


def _then(first: Callable[[], None] | None, second: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        if first is not None:
            first()
        second()

    return both


def _build(cfg: RunConfig, scratch_dir: Path) -> Roles:
    return _ray_roles(cfg, scratch_dir) if cfg.backend == "ray" else _local_roles(cfg, scratch_dir)


def _rollout_model_path(cfg: RunConfig, learner: Handle, scratch_dir: Path) -> str | None:
    """A directory vLLM can load the policy's architecture from: model.path, or the initial policy saved
    into ``scratch_dir`` (a tiny model built in memory)."""
    if cfg.rollout.engine != "vllm":
        return None
    if cfg.model.path is not None:
        return cfg.model.path
    return str(learner.call("save", scratch_dir / "rollout-init"))


def _local_roles(cfg: RunConfig, scratch_dir: Path) -> Roles:
    learner_role = LearnerRole(cfg)
    learner = LocalHandle(learner_role, "learner")
    shared = cfg.trainer.max_staleness == 0 and cfg.rollout.engine == "hf"
    if shared:
        rollout = RolloutRole(cfg, model=learner_role.model, tokenizer=learner_role.tokenizer)
    else:
        path = _rollout_model_path(cfg, learner, scratch_dir)
        rollout = RolloutRole(cfg, tokenizer=learner_role.tokenizer, model_path=path)
    pool = RolloutPool(
        [LocalHandle(rollout, "rollout-0")], learner_role.tokenizer, cfg.rollout.max_batch_size, shared
    )
    return Roles(LearnerClient(learner), pool, router_for(cfg.reward))


def _ray_roles(cfg: RunConfig, scratch_dir: Path) -> Roles:
    from rlvr.distributed.layout import layout
    from rlvr.distributed.learner_group import start_learner_group
    from rlvr.distributed.ray_backend import RayRuntime
    from rlvr.distributed.weight_broadcast import BroadcastRolloutRole, form_weight_group

    rc = cfg.ray
    places = layout(cfg)  # learner.world_size ranks over learner.nodes; placement split | colocated
    runtime = RayRuntime(rc, places.groups)
    handles: list[Any] = []
    try:
        if is_sharded(cfg):
            learner: Handle = start_learner_group(runtime, cfg, places.learner)
        else:
            learner = runtime.actor(LearnerRole, cfg, slot=places.learner[0], restarts=0, name="learner")
        handles.append(learner)
        path = _rollout_model_path(cfg, learner, scratch_dir)
        pool_holder: list[RolloutPool] = []

        def resend(worker) -> None:  # a restarted rollout actor gets the current weights first
            pool_holder[0].resend_weights(worker)

        workers: list[Handle] = []
        broadcast = cfg.learner.weight_sync == "broadcast"
        for rank in range(rc.rollout_workers):
            w = runtime.actor(
                BroadcastRolloutRole if broadcast else RolloutRole,
                cfg,
                None,
                None,
                path,
                rank,
                slot=places.rollout[rank],
                restarts=rc.max_restarts,
                name=f"rollout-{rank}",
                on_restart=resend,
            )
            workers.append(w)
            handles.append(w)
        tokenizer = load_tokenizer(cfg.model)
        pool = RolloutPool(
            workers,
            tokenizer,
            cfg.rollout.max_batch_size,
            shares_learner_model=False,
            sleeps=cfg.placement == "colocated",
        )
        pool_holder.append(pool)
        ticket = form_weight_group(cfg, learner, workers) if broadcast else None
        if rc.reward_workers:
            reward_workers: list[Handle] = [
                runtime.actor(
                    RewardRole,
                    cfg,
                    slot=None,
                    resources={"CPU": rc.reward_cpus},
                    restarts=rc.max_restarts,
                    name=f"reward-{i}",
                )
                for i in range(rc.reward_workers)
            ]
            handles.extend(reward_workers)
            scorer: Any = RewardPool(reward_workers)
        else:
            scorer = router_for(cfg.reward)
    except BaseException:
        for h in handles:
            h.close()
        runtime.close()
        raise
    log.info(
        "ray: learner + %d rollout worker(s) (%s engine) + %d reward worker(s), placement %s",
        rc.rollout_workers,
        cfg.rollout.engine,
        rc.reward_workers,
        rc.placement_strategy,
    )
    if is_sharded(cfg) or cfg.placement == "colocated":
        log.info("ray: learner of %d FSDP2 ranks, placement %s", cfg.learner.world_size, cfg.placement)
    return Roles(LearnerClient(learner, ticket), pool, scorer, on_close=runtime.close)
