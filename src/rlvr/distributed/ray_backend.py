"""Ray placement of the roles: a runtime (start or attach, a placement group) and actor handles.

The learner (ranks) and the rollout workers each get a bundle of a placement group
(:mod:`rlvr.distributed.layout`), so a cluster packs them onto as few nodes as the strategy allows;
reward actors are light and go anywhere. An actor that dies (a crash, an OOM kill, a lost node) is restarted by Ray up to
``ray.max_restarts`` times; its handle then waits for it, lets the owner re-send its state (the current
weights) and retries the call once. When the restarts are used up the handle raises
:class:`~rlvr.training.protocols.RoleFailed` and the trainer stops with a checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from rlvr.config import RayConfig
from rlvr.distributed.handles import SubmitThread
from rlvr.distributed.layout import Group, Slot
from rlvr.training.protocols import RoleFailed

log = logging.getLogger(__name__)


def import_ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("backend: ray needs Ray: pip install 'rlvr[ray]'") from e
    return ray


class RayRuntime:
    """Starts a local Ray instance (or attaches to ``cfg.address``) and reserves the placement groups.

    ``groups`` are the placement groups of the learner and rollout actors (:func:`rlvr.distributed.layout.
    layout`). Only a Ray instance this runtime started is shut down by :meth:`close`; an attached cluster
    is left running.
    """

    def __init__(self, cfg: RayConfig, groups: list[Group]) -> None:
        ray = import_ray()
        self.cfg = cfg
        self.started = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if cfg.address is None:
                kw["num_cpus"] = cfg.num_cpus
                # actors import rlvr (a source checkout included) and user `module:attr` code as the driver does
                src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
                path = [src, os.getcwd(), os.environ.get("PYTHONPATH", "")]
                kw["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in path if p)}}
            ray.init(address=cfg.address, **kw)
            self.started = True
        from ray.util.placement_group import placement_group

        self.groups = [
            Group([{k: v for k, v in b.items() if v > 0} or {"CPU": 0.001} for b in g.bundles], g.strategy)
            for g in groups
        ]
        self.pgs = [placement_group(g.bundles, strategy=g.strategy) for g in self.groups]
        try:
            ray.get([pg.ready() for pg in self.pgs], timeout=cfg.init_timeout_s)
        except Exception as e:
            have = ray.cluster_resources()
            wanted = "; ".join(f"{g.bundles} ({g.strategy})" for g in self.groups)
            self.close()
            raise RoleFailed(
                f"Ray could not reserve the placement groups {wanted} within {cfg.init_timeout_s:.0f} s; the "
                f"cluster has {have}. Lower ray.*_cpus / ray.*_gpus or ray.rollout_workers, check "
                "learner.nodes against the cluster's nodes, or give Ray more resources (ray.num_cpus)."
            ) from e

    def actor(
        self,
        cls: type,
        *args: Any,
        slot: Slot | None,
        resources: dict[str, float] | None = None,
        restarts: int,
        name: str,
        on_restart: Callable[[RayHandle], None] | None = None,
    ) -> RayHandle:
        """Start ``cls(*args)`` as an actor (in its placement-group ``slot``, taking the slot's resources;
        or anywhere, taking ``resources``) and wait until it is up."""
        ray = import_ray()
        resources = slot.resources if slot is not None else (resources or {})
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        options: dict[str, Any] = {
            "num_cpus": resources.get("CPU", 0),
            "num_gpus": resources.get("GPU", 0),
            "max_restarts": restarts,
            "max_task_retries": 0,  # a retried call must see the re-sent state first: the handle retries
            "name": None,
        }
        if slot is not None:
            # the actor's own CPUs, within its bundle (colocated actors share one); 0 takes the bundle's
            whole = self.groups[slot.group].bundles[slot.bundle].get("CPU", 0)
            options["num_cpus"] = min(resources.get("CPU", 0) or whole, whole)
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                placement_group=self.pgs[slot.group], placement_group_bundle_index=slot.bundle
            )
        actor = ray.remote(cls).options(**options).remote(*args)
        handle = RayHandle(actor, name, restarts, self.cfg.init_timeout_s, on_restart)
        handle.wait_ready()
        return handle

    def close(self) -> None:
        ray = import_ray()
        from ray.util.placement_group import remove_placement_group

        if ray.is_initialized():
            for pg in getattr(self, "pgs", []):
                with contextlib.suppress(Exception):  # best effort at shutdown
                    remove_placement_group(pg)
            if self.started:
                ray.shutdown()


class RayHandle(SubmitThread):
    """A role in a Ray actor. ``call`` blocks; ``submit`` runs ``call`` on a handle thread (restart-and-
    retry included) and returns a Future. ``ref(...)`` returns the raw ObjectRef (to pass weights from one
    actor to others without a round trip through the driver)."""

    def __init__(
        self,
        actor: Any,
        name: str,
        restarts: int,
        timeout_s: float,
        on_restart: Callable[[RayHandle], None] | None = None,
    ) -> None:
        self.actor, self.name = actor, name
        self.restarts_left, self.timeout_s = restarts, timeout_s
        self.on_restart = on_restart
        self.restarts_seen = 0

    def ref(self, method: str, *args: Any, **kwargs: Any):
        return getattr(self.actor, method).remote(*args, **kwargs)

    def wait_ready(self) -> None:
        ray = import_ray()
        try:
            ray.get(self.actor.ping.remote(), timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError as e:
            raise RoleFailed(
                f"{self.name} did not start within {self.timeout_s:.0f} s (ray.init_timeout_s)"
            ) from e
        except ray.exceptions.RayError as e:
            raise RoleFailed(f"{self.name} failed to start: {e}") from e

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        ray = import_ray()
        try:
            return ray.get(self.ref(method, *args, **kwargs))
        except ray.exceptions.RayActorError as e:
            self._recover(method, e)
            return ray.get(self.ref(method, *args, **kwargs))

    def _recover(self, method: str, error: Exception) -> None:
        """The actor died during ``method``: wait for Ray's restart, let the owner re-send state, or give up."""
        if self.restarts_left <= 0:
            raise RoleFailed(
                f"{self.name} died during {method}() and has no restarts left: {error}"
            ) from error
        self.restarts_left -= 1
        self.restarts_seen += 1
        log.warning(
            "%s died during %s(); waiting for Ray to restart it (%d restarts left)",
            self.name,
            method,
            self.restarts_left,
        )
        ray = import_ray()
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                ray.get(self.actor.ping.remote(), timeout=max(deadline - time.monotonic(), 1.0))
                break
            except ray.exceptions.ActorUnavailableError:
                if time.monotonic() > deadline:
                    raise RoleFailed(
                        f"{self.name} did not come back within {self.timeout_s:.0f} s"
                    ) from error
                time.sleep(0.2)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as e:
                raise RoleFailed(
                    f"{self.name} died during {method}() and could not be restarted: {e}"
                ) from error
        if self.on_restart is not None:
            self.on_restart(self)
        log.warning("%s is back; retrying %s()", self.name, method)

    def close(self) -> None:
        self._stop_thread(wait=False)
        ray = import_ray()
        with contextlib.suppress(Exception):  # a dead actor has nothing to close
            if hasattr(self.actor, "close"):
                ray.get(self.actor.close.remote(), timeout=30)
        with contextlib.suppress(Exception):
            ray.kill(self.actor, no_restart=True)
