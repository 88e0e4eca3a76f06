"""The rollout pipeline: synchronous, or generation running up to ``depth`` updates ahead of the learner.

With ``depth = 0`` (``trainer.max_staleness = 0``) a step collects its batch, trains on it and syncs the
weights, one after the other. With ``depth = k > 0`` one rollout thread works through a FIFO queue of
collections and weight syncs::

    rollout thread:  collect 0 | collect 1 ......... | sync w1 | collect 2 ......... | sync w2 | ...
    learner:                   | update on 0 -> w1   |          update on 1 -> w2    |
                                                       (k = 1: batch 1 was sampled by w0, trained at w1)

Before step t trains, the batches of steps t+1..t+k are queued; a weight sync is queued after each
update, behind the collections already queued, so a batch is sampled by weights at most k updates old
(the bound on staleness) and never by a half-updated model. Each batch carries the version of the
weights that sampled it; the trainer logs the difference as ``async/staleness``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rlvr.training.collect import RolloutBatch
from rlvr.training.protocols import Roles

Collected = tuple[RolloutBatch, dict[str, float]]


@dataclass
class _Launch:
    index: int  # the step (0-based) that trains on this batch
    future: Future[Collected] | None = None
    started: threading.Event = field(default_factory=threading.Event)
    resume_point: Any = None  # the sampler / sampling-stream state from just before this collection


class RolloutPipeline:
    """``collect(step_index) -> (batch, perf)`` run now (depth 0) or ahead of time on a rollout thread.

    ``snapshot()`` returns the state a resumed run needs to collect a batch again (the sampler position
    and the rollout workers' random streams); it is taken at the start of every queued collection.
    """

    def __init__(self, collect: Callable[[int], Collected], depth: int, snapshot: Callable[[], Any]) -> None:
        self.collect, self.depth, self.snapshot = collect, depth, snapshot
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rollout") if depth else None
        self._inflight: deque[_Launch] = deque()
        self._next_index: int | None = None
        self._held_resume_point: Any = None  # the resume point of batches dropped by stop() or a failure
        self._lock = threading.Lock()
        self.busy_s = 0.0  # seconds the rollout side has worked (collections, syncs, evaluation)
        self.last_sync_s = 0.0  # the latest finished weight sync

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self.busy_s += time.perf_counter() - t0

    # ---- batches ----------------------------------------------------------------------------------
    def next_batch(self, step: int, total_steps: int) -> Collected:
        """The batch step ``step`` trains on; with a pipeline, also queues those of the next ``depth`` steps."""
        if not self.depth:
            self._held_resume_point = copy.deepcopy(self.snapshot())  # kept only if this collection fails
            batch = self._timed(self.collect, step)
            self._held_resume_point = None
            return batch
        if self._next_index is None:
            self._next_index = step
        while len(self._inflight) < self.depth + 1 and self._next_index < total_steps:
            self._launch(self._next_index)
            self._next_index += 1
        launch = self._inflight.popleft()
        assert launch.index == step and launch.future is not None, (launch.index, step)
        return launch.future.result()

    def _launch(self, index: int) -> None:
        launch = _Launch(index)
        self._held_resume_point = None

        def task() -> Collected:
            launch.resume_point = copy.deepcopy(self.snapshot())
            launch.started.set()
            return self._timed(self.collect, index)

        assert self._thread is not None
        launch.future = self._thread.submit(task)
        self._inflight.append(launch)

    def resume_point(self) -> Any:
        """What a checkpoint written now must hold to collect the batches in flight again on resume."""
        if self._inflight:
            oldest = self._inflight[0]
            while not oldest.started.wait(timeout=1.0):
                if oldest.future is not None and oldest.future.done():  # failed or cancelled before it ran
                    break
            if oldest.resume_point is not None:
                return oldest.resume_point
        if self._held_resume_point is not None:
            return self._held_resume_point
        return copy.deepcopy(self.snapshot())

    # ---- weights and other rollout-side work ---------------------------------------------------------
    def send_weights(self, roles: Roles, version: int) -> None:
        """After an update: the new weights (version = updates so far) to every rollout worker, queued behind
        the collections already under way."""
        pool = roles.rollout
        if not self.depth:
            weights = None if pool.shares_learner_model else roles.learner.weights()
            self.last_sync_s = self._timed(pool.sync, weights, version)
            return
        weights = (
            roles.learner.weights()
        )  # a snapshot taken now; the learner may update again before it loads

        def sync() -> None:
            self.last_sync_s = self._timed(pool.sync, weights, version)

        assert self._thread is not None
        self._thread.submit(sync)

    def on_rollout_thread(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the rollout side (after everything queued before it) and return its result."""
        if not self.depth:
            return self._timed(fn)
        assert self._thread is not None
        return self._thread.submit(self._timed, fn).result()

    def stop(self) -> None:
        """Drop the batches in flight (a checkpoint's resume point collects them again) and end the thread
        once the work already on it is done: a collection under way, and the weight syncs queued, so that
        the rollout workers hold the last update's weights (the final evaluation samples with them)."""
        if self._inflight:
            self._held_resume_point = self.resume_point()
        for launch in self._inflight:
            if launch.future is not None:
                launch.future.cancel()  # a collection not started yet never runs
        self._inflight.clear()
        self._next_index = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="rollout")
