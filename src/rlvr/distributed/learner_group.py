"""The learner as ``learner.world_size`` Ray actors forming one FSDP2 process group, behind one handle.

Each rank is an actor in its slot of the run's placement groups (:mod:`rlvr.distributed.layout`: a
bundle per node, STRICT_SPREAD over ``learner.nodes`` machines). Rank 0 picks the rendezvous address
(its node's IP and a free port), every rank joins the ``torch.distributed`` group and shards its model. A call on the :class:`LearnerGroup` goes to
every rank, in the same order on every rank (a lock keeps two threads' calls from interleaving, which
would cross the ranks' collectives), and returns rank 0's result. A dead rank ends the run (no restarts:
the group's collectives cannot continue without it); resume from the last checkpoint.
"""

from __future__ import annotations

import threading
from typing import Any

from rlvr.config import RunConfig
from rlvr.distributed.handles import SubmitThread
from rlvr.distributed.layout import Slot
from rlvr.distributed.ray_backend import RayHandle, RayRuntime, import_ray
from rlvr.training.protocols import RoleFailed


class LearnerGroup(SubmitThread):
    """The ranks of a sharded learner used as one role (the :class:`~rlvr.distributed.handles.Handle` of
    :class:`~rlvr.distributed.placement.LearnerClient`)."""

    def __init__(self, ranks: list[RayHandle], name: str = "learner") -> None:
        self.ranks, self.name = ranks, name
        self._lock = threading.Lock()
        self._pending: list[Any] = []  # other ranks' refs of the last ``ref`` call, checked at the next call
        self.dead: str | None = None  # why the group cannot go on (a rank died)

    def _refs(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        with self._lock:
            if self.dead is not None:
                raise RoleFailed(f"the learner group is broken ({self.dead}); cannot run {method}()")
            if self._pending:
                pending, self._pending = self._pending, []
                self._results(pending, "an earlier call")
            return [r.ref(method, *args, **kwargs) for r in self.ranks]

    def _results(self, refs: list[Any], method: str) -> list[Any]:
        """The ranks' results, in rank order. A rank that died fails the call at once (the others would
        wait in a collective until learner.timeout_s), and every later call."""
        ray = import_ray()
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            try:
                ray.get(done[0])
            except ray.exceptions.RayActorError as e:
                self.dead = f"a learner rank died during {method}(): {e}"
                raise RoleFailed(self.dead) from e
            except Exception as e:  # the rank raised: fine if every rank did, broken if others wait on it
                _, stuck = ray.wait(waiting, num_returns=len(waiting), timeout=10.0)
                if stuck:
                    self.dead = f"a learner rank failed in {method}() while others waited: {e}"
                    raise RoleFailed(self.dead) from e
                raise
        return ray.get(refs)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._results(self._refs(method, *args, **kwargs), method)[0]

    def ref(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Rank 0's ObjectRef (e.g. the gathered weights, passed on to the rollout actors directly)."""
        refs = self._refs(method, *args, **kwargs)
        self._pending = refs[1:]
        return refs[0]

    def start(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Start ``method`` on every rank without waiting; its results are checked at the next call."""
        self._pending = self._refs(method, *args, **kwargs)

    def close(self) -> None:
        self._stop_thread(wait=False)
        for r in self.ranks:
            if self.dead is not None:  # the live ranks may be stuck in a collective: no graceful close
                import_ray().kill(r.actor, no_restart=True)
            else:
                r.close()


def start_learner_group(runtime: RayRuntime, cfg: RunConfig, slots: list[Slot]) -> LearnerGroup:
    """``learner.world_size`` rank actors, rank r in ``slots[r]`` of ``runtime``'s placement groups, joined
    into one process group with the model sharded; raises RoleFailed when a rank cannot start."""
    from rlvr.distributed.learner_rank import ShardedLearnerRole

    world = cfg.learner.world_size
    ranks: list[RayHandle] = []
    try:
        for rank in range(world):
            ranks.append(
                runtime.actor(
                    ShardedLearnerRole, cfg, rank, world, slot=slots[rank], restarts=0, name=f"learner-{rank}"
                )
            )
        group = LearnerGroup(ranks)
        host, port = ranks[0].call("address")  # rank 0's node IP: every rank's rendezvous (MASTER_ADDR)
        group.call("join", host, port)
        return group
    except BaseException:
        for r in ranks:
            r.close()
        raise
