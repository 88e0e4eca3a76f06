"""A training run for the kill / signal tests, in its own process: ``python -m tests.training.resume_worker ARGS``.

Runs ``rlvr.cli.main(ARGS)`` and exits with its code. ``digit_fraction_task`` is a dataset on which every
policy gets varied rewards (so each step changes the weights). The environment variable
``RESUME_WORKER_DELAY_S`` slows its verifier down (per completion), so that a test can interrupt a run of a
few steps part-way; it changes no result.
"""

from __future__ import annotations

import os
import sys
import time

from rlvr.data.sample import RewardSpec, Sample
from rlvr.data.tasks import digit_sort, guess_number
from rlvr.envs.guess_number import GuessNumber
from rlvr.rewards.types import RewardResult
from tests.training.helpers import digit_fraction


def digit_fraction_task(size: int, seed: int, **kwargs) -> list[Sample]:
    """digit_sort prompts, scored by the fraction of digits in the completion."""
    samples = digit_sort(size, seed, **kwargs)
    for s in samples:
        s.reward = RewardSpec(verifier="tests.training.resume_worker:slow_digit_fraction")
    return samples


def slow_digit_fraction(completion: str, ground_truth, **_) -> RewardResult:
    time.sleep(float(os.environ.get("RESUME_WORKER_DELAY_S", "0")))
    return digit_fraction(completion, ground_truth)


class SlowGuess(GuessNumber):
    """guess_number whose steps take RESUME_WORKER_DELAY_S each (so a test can kill a run part-way)."""

    def step(self, action: str):
        time.sleep(float(os.environ.get("RESUME_WORKER_DELAY_S", "0")))
        return super().step(action)


def slow_guess_task(size: int, seed: int, **kwargs) -> list[Sample]:
    """guess_number episodes played in SlowGuess."""
    samples = guess_number(size, seed, **kwargs)
    for s in samples:
        assert s.env is not None
        s.env.name = "tests.training.resume_worker:SlowGuess"
    return samples


if __name__ == "__main__":
    from rlvr.cli import main

    sys.exit(main(sys.argv[1:]))
