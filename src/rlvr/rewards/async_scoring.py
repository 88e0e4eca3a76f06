"""Non-blocking scoring: ``submit(router, items) -> Future[list[RewardResult]]`` for either router.

A trainer scores one chunk of completions while the next chunk generates::

    fut = submit(router, requests_of_chunk_0)
    completions_1 = engine.generate(chunk_1)
    results_0 = fut.result()

A ``RemoteRewardRouter`` has its own ``submit``. A local ``RewardRouter`` is not thread-safe, so its
calls go through one background thread per router, in submission order; while a submitted batch is
pending, score through ``submit(...).result()`` rather than ``router.score`` on another thread. With
``max_workers=0`` the verifiers then run on that thread, where ``math`` has no signal-based timeout:
give the router workers (``max_workers > 0``) to keep every call bounded.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult

_EXECUTORS: weakref.WeakKeyDictionary[Any, ThreadPoolExecutor] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _executor(router: Any) -> ThreadPoolExecutor:
    with _LOCK:
        ex = _EXECUTORS.get(router)
        if ex is None:
            ex = ThreadPoolExecutor(1, thread_name_prefix="reward-scoring")
            _EXECUTORS[router] = ex
        return ex


def submit(router: Any, items: Sequence[ScoreRequest]) -> Future[list[RewardResult]]:
    """``router.score(items)`` in the background; the future holds the results or the exception."""
    own = getattr(router, "submit", None)
    if callable(own):
        return own(items)
    return _executor(router).submit(router.score, list(items))


def shutdown(router: Any, wait: bool = True) -> None:
    """Stop ``router``'s background thread (pending batches are cancelled). The router stays open."""
    with _LOCK:
        ex = _EXECUTORS.pop(router, None)
    if ex is not None:
        ex.shutdown(wait=wait, cancel_futures=True)
