"""Where the roles run: the one place that reads ``backend``.

``local``: the learner, one rollout worker and the reward router live in this process. Synchronous hf
runs share one model object between learner and engine (weight sync is free); asynchronous runs
(``trainer.max_staleness > 0``) and vLLM give the rollout worker its own copy, refreshed after every
update.

``ray``: one learner actor and ``ray.rollout_workers`` rollout actors in a placement group, plus
``ray.reward_workers`` reward actors. Weights travel learner -> object store -> rollout actors, never
through the driver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr.config import RunConfig
from rlvr.distributed.handles import Handle, LocalHandle
from rlvr.distributed.pools import RewardPool, RolloutPool
from rlvr.models.load import load_tokenizer
from rlvr.rewards.factory import router_from_config
from rlvr.training.roles import LearnerRole, RewardRole, RolloutRole

log = logging.getLogger(__name__)


@dataclass
class Roles:
    learner: Handle
    rollout: RolloutPool
    scorer: Any  # a RewardRouter, RemoteRewardRouter or RewardPool: score / submit / close
    runtime: Any = None  # the RayRuntime of a ray run

    @property
    def local_learner(self) -> LearnerRole | None:
        return getattr(self.learner, "role", None)

    def learner_weights(self) -> Any:
        """The learner's current weights as the rollout pool takes them: a dict, or a Ray ObjectRef."""
        ref = getattr(self.learner, "ref", None)
        return ref("weights") if callable(ref) else self.learner.call("weights")

    def close(self) -> None:
        self.rollout.close()
        self.scorer.close()
        self.learner.close()
        if self.runtime is not None:
            self.runtime.close()


def build_roles(cfg: RunConfig, run_dir: Path) -> Roles:
    return _ray_roles(cfg, run_dir) if cfg.backend == "ray" else _local_roles(cfg, run_dir)


def _rollout_model_path(cfg: RunConfig, learner: Handle, run_dir: Path) -> str | None:
    """A directory vLLM can load the policy's architecture from: model.path, or the initial policy saved
    into the run directory (a tiny model built in memory)."""
    if cfg.rollout.engine != "vllm":
        return None
    if cfg.model.path is not None:
        return cfg.model.path
    return str(learner.call("save", run_dir / "rollout-init"))


def _local_roles(cfg: RunConfig, run_dir: Path) -> Roles:
    learner_role = LearnerRole(cfg)
    learner = LocalHandle(learner_role, "learner")
    shared = cfg.trainer.max_staleness == 0 and cfg.rollout.engine == "hf"
    if shared:
        rollout = RolloutRole(cfg, model=learner_role.model, tokenizer=learner_role.tokenizer)
    else:
        path = _rollout_model_path(cfg, learner, run_dir)
        rollout = RolloutRole(cfg, tokenizer=learner_role.tokenizer, model_path=path)
    pool = RolloutPool(
        [LocalHandle(rollout, "rollout-0")], learner_role.tokenizer, cfg.rollout.max_batch_size, shared
    )
    r = cfg.reward
    return Roles(learner, pool, router_from_config(r))


def _ray_roles(cfg: RunConfig, run_dir: Path) -> Roles:
    from rlvr.distributed.ray_backend import RayRuntime

    rc = cfg.ray
    bundles = [{"CPU": rc.learner_cpus, "GPU": rc.learner_gpus}] + [
        {"CPU": rc.rollout_cpus, "GPU": rc.rollout_gpus} for _ in range(rc.rollout_workers)
    ]
    runtime = RayRuntime(rc, bundles)
    handles: list[Any] = []
    try:
        learner = runtime.actor(LearnerRole, cfg, bundle=0, resources=bundles[0], restarts=0, name="learner")
        handles.append(learner)
        path = _rollout_model_path(cfg, learner, run_dir)
        pool_holder: list[RolloutPool] = []

        def resend(worker) -> None:  # a restarted rollout actor gets the current weights first
            pool_holder[0].resend_weights(worker)

        workers = []
        for rank in range(rc.rollout_workers):
            w = runtime.actor(
                RolloutRole,
                cfg,
                None,
                None,
                path,
                rank,
                bundle=1 + rank,
                resources=bundles[1 + rank],
                restarts=rc.max_restarts,
                name=f"rollout-{rank}",
                on_restart=resend,
            )
            workers.append(w)
            handles.append(w)
        tokenizer = load_tokenizer(cfg.model)
        pool = RolloutPool(workers, tokenizer, cfg.rollout.max_batch_size, shares_learner_model=False)
        pool_holder.append(pool)
        if rc.reward_workers:
            reward_workers = [
                runtime.actor(
                    RewardRole,
                    cfg,
                    bundle=None,
                    resources={"CPU": rc.reward_cpus},
                    restarts=rc.max_restarts,
                    name=f"reward-{i}",
                )
                for i in range(rc.reward_workers)
            ]
            handles.extend(reward_workers)
            scorer: Any = RewardPool(reward_workers)
        else:
            r = cfg.reward
            scorer = router_from_config(r)
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
    return Roles(learner, pool, scorer, runtime)
