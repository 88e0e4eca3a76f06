"""A toy multi-turn environment: guess a secret number with higher / lower feedback.

    guess 1-8                  <- reset: the first prompt (raw text, or one user message)
    4                          <- the model's action
    higher                     <- step: feedback, reward 0
    6
    correct                    <- reward 1, done

A policy that ignores the feedback solves it within ``max_turns`` guesses by luck (1 - (1 - 1/n)^turns
for uniform guesses); one that halves the range always does (binary search). Small enough for a tiny
character-level model to learn on a CPU in minutes.
"""

from __future__ import annotations

import re
from typing import Any

from rlvr.data.sample import Sample
from rlvr.envs.base import Env, Observation, StepResult
from rlvr.envs.registry import ENVS

NUMBER = re.compile(r"-?\d+")


@ENVS.register("guess_number")
class GuessNumber(Env):
    """The secret is ``sample.metadata["secret"]``; the range 1..``high``. ``chat`` gives the first prompt
    and the feedback as user messages instead of raw text lines.

    Each action is read as its first integer; an action without one gets feedback ``"?"``. A correct
    guess ends the episode with reward 1; other guesses get 0 (the runner stops at ``max_turns``).
    ``hint_range`` adds the range the feedback so far leaves open (``higher 5-8``): the information is
    the same, but it sits next to the next guess, which a tiny model learns to use far sooner.
    ``shaping`` is a per-turn reward for a wrong guess inside the open range (a guess that uses the
    feedback). The ``success`` metric says whether the episode found the secret, whatever the shaping.
    """

    stop = ["\n"]

    def __init__(
        self, high: int = 8, chat: bool = False, hint_range: bool = False, shaping: float = 0.0, **params: Any
    ) -> None:
        super().__init__(**params)
        self.high, self.chat, self.hint_range, self.shaping = high, chat, hint_range, shaping
        self.secret, self.low, self.top = 0, 1, high
        self.guesses: list[int] = []

    def reset(self, sample: Sample) -> Observation:
        if "secret" not in sample.metadata:
            raise ValueError(f"sample {sample.id!r}: guess_number needs metadata.secret (an integer)")
        self.secret = int(sample.metadata["secret"])
        self.guesses, self.low, self.top = [], 1, self.high
        return self._say(f"guess 1-{self.high}")

    def step(self, action: str) -> StepResult:
        found = NUMBER.search(action)
        if found is None:
            return StepResult(self._say("?"), metrics={"invalid": 1.0, "success": 0.0})
        guess = int(found.group())
        self.guesses.append(guess)
        consistent = self.low <= guess <= self.top
        metrics = {
            "invalid": 0.0,
            "repeat": float(guess in self.guesses[:-1]),
            "consistent": float(consistent),
        }
        if guess == self.secret:
            return StepResult(None, reward=1.0, done=True, metrics={**metrics, "success": 1.0})
        if guess < self.secret:
            self.low = max(self.low, guess + 1)
        else:
            self.top = min(self.top, guess - 1)
        said = "higher" if guess < self.secret else "lower"
        observation = self._say(f"{said} {self.low}-{self.top}" if self.hint_range else said)
        reward = self.shaping if consistent else 0.0
        return StepResult(observation, reward=reward, metrics={**metrics, "success": 0.0})

    def _say(self, text: str) -> Observation:
        return [{"role": "user", "content": text}] if self.chat else text + "\n"
