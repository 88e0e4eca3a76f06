"""Groups of workers used as one: the rollout pool (an engine made of rollout workers) and the reward
pool (a router made of reward actors).

A request is cut into chunks of at most ``rollout.max_batch_size`` completions (whole prompt groups);
chunks go to the workers round-robin and come back in order, so the trainer can score chunk i while
chunk i+1 is still generating. With one worker the chunks, and so the random draws, are the same
whichever backend runs it: a Ray run with one rollout worker samples exactly what a local run samples.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from rlvr.distributed.handles import Handle
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import Completion, SamplingParams


class RolloutPool:
    """Rollout workers behind one ``generate``. ``shares_learner_model`` means the only worker samples
    with the learner's own model object (local, synchronous): weight sync then only bumps the version."""

    def __init__(
        self,
        workers: list[Handle],
        tokenizer,
        max_batch_size: int,
        shares_learner_model: bool,
        sleeps: bool = False,
    ) -> None:
        if not workers:
            raise ValueError("a rollout pool needs at least one worker")
        self.workers, self.tokenizer = workers, tokenizer
        self.max_batch_size = max_batch_size
        self.shares_learner_model = shares_learner_model
        self.version = 0
        self._weights: Any = None  # the last weights sent (a dict or a Ray ObjectRef), for restarted workers
        # placement: colocated: the workers sleep after generating (the learner updates on their devices)
        # and wake before the next weight sync or generation
        self.sleeps, self.asleep = sleeps, False

    def _set_awake(self, awake: bool) -> None:
        if self.sleeps and self.asleep == awake:
            futures = [w.submit("wake_up" if awake else "sleep") for w in self.workers]
            for f in futures:
                f.result()
            self.asleep = not awake

    # ---- generation -----------------------------------------------------------------------------
    def generate_chunks(
        self, prompts: list[list[int]], params: SamplingParams
    ) -> Iterator[tuple[list[Completion], dict[str, float]]]:
        """(completions, info) per chunk, in prompt order; ``prompt_index`` indexes ``prompts``."""
        self._set_awake(True)
        per_chunk = max(1, self.max_batch_size // params.n)
        starts = list(range(0, len(prompts), per_chunk))
        if len(self.workers) == 1:  # lazily, so the consumer works on chunk i while chunk i+1 generates
            results: Iterator = (
                self.workers[0].call("generate", prompts[s : s + per_chunk], params) for s in starts
            )
        else:
            futures: list[Future] = [
                self.workers[j % len(self.workers)].submit("generate", prompts[s : s + per_chunk], params)
                for j, s in enumerate(starts)
            ]
            results = (f.result() for f in futures)
        for start, (completions, info) in zip(starts, results, strict=True):
            for c in completions:
                c.prompt_index += start
            yield completions, info
        self._set_awake(False)

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        """All completions at once (the engine interface that evaluation uses)."""
        return [c for chunk, _ in self.generate_chunks(prompts, params) for c in chunk]

    # ---- weights and random streams -------------------------------------------------------------
    def sync(self, weights: Any, version: int) -> float:
        """Send the learner's weights (a state dict, or a Ray ObjectRef of one) to every worker; returns the
        wall seconds until all have loaded them."""
        t0 = time.perf_counter()
        self._set_awake(True)
        self._weights, self.version = weights, version
        futures = [w.submit("set_weights", weights, version) for w in self.workers]
        for f in futures:
            f.result()
        return time.perf_counter() - t0

    def resend_weights(self, worker: Handle) -> None:
        """A restarted worker gets the current weights before it samples again."""
        if self._weights is not None:
            worker.call("set_weights", self._weights, self.version)

    def generator_states(self) -> list[Any]:
        return [w.call("generator_state") for w in self.workers]

    def set_generator_states(self, states: Sequence[Any]) -> None:
        if len(states) != len(self.workers):
            raise ValueError(
                f"the checkpoint has sampling streams for {len(states)} rollout workers, this run has "
                f"{len(self.workers)}: resume with ray.rollout_workers={len(states)}"
            )
        for w, s in zip(self.workers, states, strict=True):
            w.call("set_generator_state", s)

    def seed_generators(self, seed: int) -> None:
        for rank, w in enumerate(self.workers):
            w.call("seed_generator", seed + 7919 * rank)

    def close(self) -> None:
        for w in self.workers:
            w.close()


class RewardPool:
    """Reward actors behind the router interface (``submit``, ``score``, ``close``): a request is split
    evenly over the actors and the results come back in order."""

    def __init__(self, workers: list[Handle]) -> None:
        if not workers:
            raise ValueError("a reward pool needs at least one worker")
        self.workers = workers

    def submit(self, items: Sequence[ScoreRequest]) -> Future[list[RewardResult]]:
        items = list(items)
        share = max(1, math.ceil(len(items) / len(self.workers)))
        parts = [
            self.workers[j].submit("score", items[s : s + share])
            for j, s in enumerate(range(0, len(items), share))
        ]
        out: Future[list[RewardResult]] = Future()
        lock = threading.Lock()

        def gather(_: Future) -> None:
            with lock:
                if out.done() or not all(p.done() for p in parts):
                    return
                errors = [p.exception() for p in parts if p.exception() is not None]
                if errors:
                    out.set_exception(errors[0])
                else:
                    out.set_result([r for p in parts for r in p.result()])

        if not parts:
            out.set_result([])
        for p in parts:
            p.add_done_callback(gather)
        return out

    def score(self, items: Sequence[ScoreRequest]) -> list[RewardResult]:
        return self.submit(items).result()

    def close(self) -> None:
        for w in self.workers:
            w.close()
