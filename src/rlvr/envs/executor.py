"""Environment calls in a thread pool, each under a timeout; a call that raises or hangs is an error.

Environments call retrievers, other models and servers, so their steps run concurrently across the live
trajectories of a turn. An error (an exception, or no answer within ``timeout_s``) is returned as text
with the call's latency; the episode runner records it on that trajectory and masks the trajectory out
of the loss. It is never turned into a reward of 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class CallOutcome(Generic[T]):
    """The value of one call, or its error (``"ValueError: ..."``, ``"timeout after 5.0 s"``)."""

    value: T | None
    error: str | None
    latency_s: float


class EnvExecutor:
    """Runs batches of environment calls on ``workers`` threads, each call within ``timeout_s``.

    A call that times out keeps its thread until it returns (Python cannot kill a thread); its result is
    ignored. ``workers=0`` runs calls inline (no timeout), for debugging.
    """

    def __init__(self, workers: int = 8, timeout_s: float = 30.0) -> None:
        self.workers, self.timeout_s = workers, timeout_s
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="rlvr-env") if workers > 0 else None

    def run(self, calls: list[Callable[[], T]]) -> list[CallOutcome[T]]:
        """Call each of ``calls`` (concurrently) and return their outcomes in order."""
        if self._pool is None:
            return [_inline(call) for call in calls]
        starts: list[float] = []
        futures: list[Future] = []
        for call in calls:
            starts.append(time.perf_counter())
            futures.append(self._pool.submit(_timed, call))
        waves = -(-len(calls) // self.workers)  # calls queue behind busy threads: one timeout a wave
        deadline = time.perf_counter() + self.timeout_s * waves
        return [self._wait(f, start, deadline) for f, start in zip(futures, starts, strict=True)]

    def _wait(self, future: Future, start: float, deadline: float) -> CallOutcome:
        try:
            value, error, latency = future.result(timeout=max(deadline - time.perf_counter(), 0.0))
        except FutureTimeout:
            future.cancel()
            return CallOutcome(None, f"timeout after {self.timeout_s:g} s", time.perf_counter() - start)
        return CallOutcome(value, error, latency)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _timed(call: Callable[[], T]) -> tuple[T | None, str | None, float]:
    start = time.perf_counter()
    try:
        return call(), None, time.perf_counter() - start
    except Exception as exc:  # recorded on the trajectory, never swallowed into a reward
        return None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start


def _inline(call: Callable[[], T]) -> CallOutcome[T]:
    value, error, latency = _timed(call)
    return CallOutcome(value, error, latency)
