"""Serve a saved index from a Ray actor: one copy of the index for every env worker of a Ray job, on the
node with the memory for it, behind the same ``search(queries, k)`` interface.

    serve_in_ray("data/index/wiki18-e5", name="wiki18", num_cpus=2)   # a named actor loads the index
    retriever = RayRetriever("wiki18")                                  # from any process of the job
    retriever.search(["capital of Austria"], k=3)                       # -> [[Hit, ...]]

The s3 environment takes ``index: ray://wiki18``. ``detached=True`` keeps the actor alive after the
process that started it exits (stop it with ``ray.kill``). Ray is imported when used, never at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlvr.retrieval.base import Hit
from rlvr.retrieval.index import load_index

SCHEME = "ray://"
_SERVED: dict[str, Any] = {}  # Ray collects an actor nobody holds: this process holds what it started


class RetrieverActor:
    """The actor's class: loads the index saved in ``index_dir`` once and answers batched searches."""

    def __init__(self, index_dir: str) -> None:
        self.index_dir = index_dir
        self.retriever = load_index(index_dir)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        return self.retriever.search(queries, k)

    def health(self) -> dict[str, Any]:
        return {"documents": len(self.retriever.corpus), "index": self.index_dir}


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("a Ray retrieval actor needs Ray: pip install 'rlvr[ray]'") from e
    if not ray.is_initialized():
        raise RuntimeError(
            "no Ray instance: call ray.init() (or run inside a Ray job) before serving an index"
        )
    return ray


def serve_in_ray(
    index_dir: str | Path,
    name: str,
    num_cpus: float = 1.0,
    detached: bool = False,
    timeout_s: float = 300.0,
) -> Any:
    """Start a named :class:`RetrieverActor` over ``index_dir`` and wait until its index is loaded;
    return its actor handle, which this process also holds (until :func:`stop_serving`), so the actor
    lives as long as this process (or beyond, ``detached``). An error if the name is taken."""
    ray = _ray()
    options: dict[str, Any] = {"name": name, "num_cpus": num_cpus, "max_restarts": 2, "max_task_retries": 2}
    if detached:
        options["lifetime"] = "detached"
    actor = ray.remote(RetrieverActor).options(**options).remote(str(index_dir))
    ray.get(actor.health.remote(), timeout=timeout_s)  # raises the actor's error (a missing index...)
    _SERVED[name] = actor
    return actor


def stop_serving(name: str) -> None:
    """Kill the retrieval actor ``name`` (started here or detached elsewhere)."""
    ray = _ray()
    actor = _SERVED.pop(name, None)  # the handle this process holds; a lookup by name for a detached one
    ray.kill(actor if actor is not None else ray.get_actor(name))


class RayRetriever:
    """A :class:`~rlvr.retrieval.base.Retriever` whose index lives in a Ray actor, found by name (or
    given as a handle)."""

    def __init__(self, actor: str | Any, timeout_s: float = 60.0) -> None:
        ray = _ray()
        self.name = actor if isinstance(actor, str) else "<handle>"
        if isinstance(actor, str):
            try:
                actor = ray.get_actor(actor)
            except ValueError as e:
                raise ValueError(
                    f"{SCHEME}{self.name}: no Ray actor of that name; start one with serve_in_ray(index_dir, "
                    f"name={self.name!r})"
                ) from e
        self.actor, self.timeout_s = actor, timeout_s

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        hits: list[list[Hit]] = _ray().get(self.actor.search.remote(queries, k), timeout=self.timeout_s)
        return hits

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = _ray().get(self.actor.health.remote(), timeout=self.timeout_s)
        return info

    def save(self, directory: str | Path) -> None:
        raise NotImplementedError(
            f"{SCHEME}{self.name}: an index served by a Ray actor is saved where it was built"
        )
