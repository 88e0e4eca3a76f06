"""The learner as ``learner.world_size`` Ray actors forming one FSDP2 process group, behind one handle.

Each rank is an actor in its own bundle of the run's placement group (bundles 0 .. world_size - 1; with
``learner.nodes`` > 1, Ray's strategy spreads them). Rank 0 picks the rendezvous address, every rank
joins the ``torch.distributed`` group and shards its model. A call on the :class:`LearnerGroup` goes to
every rank, in the same order on every rank (a lock keeps two threads' calls from interleaving, which
would cross the ranks' collectives), and returns rank 0's result. A dead rank ends the run (no restarts:
the group's collectives cannot continue without it); resume from the last checkpoint.
"""

from __future__ import annotations

import threading
from typing import Any

from rlvr.config import RunConfig
from rlvr.distributed.handles import SubmitThread
from rlvr.distributed.ray_backend import RayHandle, RayRuntime, import_ray
from rlvr.training.protocols import RoleFailed


class LearnerGroup(SubmitThread):
    """The ranks of a sharded learner used as one role (the :class:`~rlvr.distributed.handles.Handle` of
    :class:`~rlvr.distributed.placement.LearnerClient`)."""

    def __init__(self, ranks: list[RayHandle], name: str = "learner") -> None:
        self.ranks, self.name = ranks, name
        self._lock = threading.Lock()
        self._pending: list[Any] = []  # other ranks' refs of the last ``ref`` call, checked at the next call

    def _refs(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        ray = import_ray()
        with self._lock:
            if self._pending:
                ray.get(self._pending)
                self._pending = []
            return [r.ref(method, *args, **kwargs) for r in self.ranks]

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        ray = import_ray()
        refs = self._refs(method, *args, **kwargs)
        try:
            return ray.get(refs)[0]
        except ray.exceptions.RayActorError as e:
            raise RoleFailed(f"a learner rank died during {method}(): {e}") from e

    def ref(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Rank 0's ObjectRef (e.g. the gathered weights, passed on to the rollout actors directly)."""
        refs = self._refs(method, *args, **kwargs)
        self._pending = refs[1:]
        return refs[0]

    def close(self) -> None:
        self._stop_thread(wait=False)
        for r in self.ranks:
            r.close()


def start_learner_group(runtime: RayRuntime, cfg: RunConfig, bundles: list[dict[str, float]]) -> LearnerGroup:
    """``learner.world_size`` rank actors in bundles 0 .. world_size - 1 of ``runtime``'s placement group,
    joined into one process group with the model sharded; raises RoleFailed when a rank cannot start."""
    from rlvr.distributed.learner_rank import ShardedLearnerRole

    world = cfg.learner.world_size
    ranks: list[RayHandle] = []
    try:
        for rank in range(world):
            ranks.append(
                runtime.actor(
                    ShardedLearnerRole,
                    cfg,
                    rank,
                    world,
                    bundle=rank,
                    resources=bundles[rank],
                    restarts=0,
                    name=f"learner-{rank}",
                )
            )
        group = LearnerGroup(ranks)
        host, port = ranks[0].call("address")
        group.call("join", host, port)
        return group
    except BaseException:
        for r in ranks:
            r.close()
        raise


def layout(
    cfg: RunConfig,
) -> tuple[list[dict[str, float]], list[dict[str, float]], list[tuple[int, dict[str, float]]]]:
    """The placement group's bundles, each learner rank's resources (rank r in bundle r), and each rollout
    worker's (bundle, resources).

    ``placement: split``: world_size learner bundles, then one bundle per rollout worker.
    ``placement: colocated``: world_size bundles only; rollout worker i shares bundle i with learner rank i,
    each taking half of its GPU (vLLM's ``rollout.gpu_memory_utilization`` bounds the engine's memory)."""
    rc, world = cfg.ray, cfg.learner.world_size
    learner = {"CPU": rc.learner_cpus, "GPU": rc.learner_gpus}
    rollout = {"CPU": rc.rollout_cpus, "GPU": rc.rollout_gpus}
    if cfg.placement == "split":
        bundles = [dict(learner) for _ in range(world)] + [dict(rollout) for _ in range(rc.rollout_workers)]
        return bundles, bundles[:world], [(world + i, bundles[world + i]) for i in range(rc.rollout_workers)]
    gpu = max(rc.learner_gpus, rc.rollout_gpus)
    bundles = [{"CPU": rc.learner_cpus + rc.rollout_cpus, "GPU": gpu} for _ in range(world)]
    share = {"CPU": rc.learner_cpus, "GPU": gpu / 2}
    return bundles, [share] * world, [(i, {"CPU": rc.rollout_cpus, "GPU": gpu / 2}) for i in range(world)]
