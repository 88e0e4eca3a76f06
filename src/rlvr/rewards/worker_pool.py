"""An asyncio front to a set of verifier worker processes, for the reward server.

Each worker is its own spawn-started single-process ``ProcessPoolExecutor``, and a call holds one worker
for itself, so a verifier that crashes or hangs only ever takes down the call that caused it:

- a call that runs past ``timeout_s`` is answered ``error="timeout after X s"`` (``info["timeout"]``)
  and its worker is killed and replaced;
- a worker that dies mid-call (``BrokenProcessPool``: a segfault, ``os._exit``, the OOM killer) is
  replaced and the call is retried once on another worker; a second death is answered
  ``error="<verifier>: worker process died ..."`` (``info["worker_died"]``). A call is never lost and
  never silently scored 0.

The event loop only awaits futures; spawning and killing processes happens on helper threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from rlvr.rewards.router import ScoreRequest, ignore_sigint, score_one
from rlvr.rewards.types import RewardResult

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # a fresh worker imports rlvr (and its verifiers) before it takes calls


def _exit_with_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:  # the server died without closing its pool (SIGKILL, OOM)
            os._exit(0)


def _warm_up() -> int:
    import rlvr.rewards  # noqa: F401  (registers every verifier in the worker)

    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    return os.getpid()


class _Worker:
    """One worker process behind a one-process executor."""

    def __init__(self) -> None:
        self.executor = ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=ignore_sigint
        )
        try:
            self.pid = self.executor.submit(_warm_up).result(timeout=START_TIMEOUT_S)  # blocking: a thread
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        """Kill the process (a hung verifier cannot be asked to stop) and drop the executor. Blocking."""
        procs = list((getattr(self.executor, "_processes", None) or {}).values())  # no public API
        for p in procs:
            p.kill()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.join(timeout=5)


@dataclass
class Outcome:
    """A result and how it came about (for the server's metrics)."""

    result: RewardResult
    timeout: bool = False
    retried: bool = False
    worker_deaths: int = 0


class WorkerPool:
    """``workers`` verifier processes; ``await pool.score(item)`` runs one request on a free one."""

    def __init__(self, workers: int, timeout_s: float) -> None:
        if workers < 1 or timeout_s <= 0:
            raise ValueError(f"need workers >= 1 and timeout_s > 0, got {workers}, {timeout_s}")
        self.workers, self.timeout_s = workers, timeout_s
        self.restarts = 0  # workers replaced after a death or a timeout
        self.in_flight = 0  # calls running on a worker
        self.waiting = 0  # calls waiting for a free worker
        self._free: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()

    @property
    def alive(self) -> int:
        """Workers started and not known dead (a replacement counts once it has started)."""
        return len(self._all)

    async def start(self) -> None:
        """Start every worker; raises ``RuntimeError`` if one cannot start (import error, ...)."""
        results = await asyncio.gather(
            *(asyncio.to_thread(_Worker) for _ in range(self.workers)), return_exceptions=True
        )
        for w in results:
            if isinstance(w, _Worker):
                self._all.add(w)
                self._free.put_nowait(w)
        failed = [r for r in results if not isinstance(r, _Worker)]
        if failed:
            await self.close()
            raise RuntimeError(f"reward worker pool failed to start: {failed[0]!r}")

    async def close(self) -> None:
        """Kill every worker; waits for replacements being started so none outlives the pool."""
        self._closed.set()
        workers, self._all = list(self._all), set()
        await asyncio.gather(*(asyncio.to_thread(w.kill) for w in workers))
        while self._tasks:  # replacements being started kill themselves once they see the pool closed
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def score(self, item: ScoreRequest) -> Outcome:
        """Score ``item`` on a free worker, with the timeout and the one retry described above."""
        deaths = 0
        while True:
            self.waiting += 1
            try:
                worker = await self._free.get()
            finally:
                self.waiting -= 1
            try:
                fut = worker.executor.submit(score_one, item)
            except (BrokenProcessPool, RuntimeError):  # it died while idle: not this call's doing
                self._replace(worker)
                continue
            self.in_flight += 1
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout_s)
            except TimeoutError:
                self._replace(worker)
                info = {"timeout": True, "latency_s": self.timeout_s}
                res = RewardResult(0.0, None, info, f"timeout after {self.timeout_s:g} s")
                return Outcome(res, timeout=True, retried=deaths > 0, worker_deaths=deaths)
            except BrokenProcessPool:
                self._replace(worker)
                deaths += 1
                log.warning("worker %s died scoring %s (death %d)", worker.pid, item.spec.verifier, deaths)
                if deaths < 2:
                    continue  # retry once on another worker
                info = {"worker_died": True}
                err = f"{item.spec.verifier}: worker process died (twice; retried once on a fresh worker)"
                return Outcome(RewardResult(0.0, None, info, err), retried=True, worker_deaths=deaths)
            except asyncio.CancelledError:  # the caller went away; the call goes on in the worker
                self._spawn(self._release_later(worker, fut))
                raise
            except Exception as exc:  # e.g. an unpicklable request or result; the worker is fine
                self._free.put_nowait(worker)
                err = f"{item.spec.verifier}: {type(exc).__name__}: {exc}"
                return Outcome(RewardResult(0.0, None, {}, err), retried=deaths > 0, worker_deaths=deaths)
            finally:
                self.in_flight -= 1
            self._free.put_nowait(worker)
            return Outcome(result, retried=deaths > 0, worker_deaths=deaths)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release_later(self, worker: _Worker, fut: Future[RewardResult]) -> None:
        """Give ``worker`` back once the abandoned call ``fut`` ends (or replace it if it will not)."""
        waiter = asyncio.wrap_future(fut)
        done, _ = await asyncio.wait([waiter], timeout=self.timeout_s)
        waiter.cancel()
        if done and waiter.exception() is None and not self._closed.is_set():
            self._free.put_nowait(worker)
        else:
            self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start another in the background; it joins the free queue when ready."""
        self._all.discard(worker)
        self.restarts += 1
        self._spawn(self._respawn(worker))

    async def _respawn(self, old: _Worker) -> None:
        await asyncio.to_thread(old.kill)
        delay = 0.5
        while not self._closed.is_set():
            try:
                new = await asyncio.to_thread(_Worker)
            except Exception as exc:
                log.error("a replacement reward worker failed to start: %r; retrying in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), delay)
                delay = min(2 * delay, 10.0)
                continue
            if self._closed.is_set():
                await asyncio.to_thread(new.kill)
                return
            self._all.add(new)
            self._free.put_nowait(new)
            return
