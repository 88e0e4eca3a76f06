"""The environment interface: one instance per trajectory, ``reset`` then ``step`` until done.

An environment turns the model's action text into the next observation. It never sees token ids: the
episode runner (``rlvr.training.episodes``) renders observations into ids, token in, token out.

    env = ENVS.get(spec.name)(**spec.params)
    first = env.reset(sample)              # messages (chat) or text: the first prompt
    result = env.step("I guess 4")         # StepResult(observation, reward, done, metrics)
    ...
    final = env.score()                    # optional trajectory reward (None: the turn rewards only)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rlvr.data.sample import Sample

Messages = list[dict[str, str]]
Observation = Messages | str
"""Chat messages (rendered with the chat template's canonical separators) or raw text (appended as is)."""


@dataclass
class StepResult:
    """What an environment returns for one action.

    ``observation`` is appended before the model's next turn: new chat messages (usually one user or tool
    message) or raw text; None when ``done``. ``reward`` is the action's reward, placed on the turn's
    last generated token. ``metrics`` are numbers averaged per environment in the step's metrics.
    """

    observation: Observation | None = None
    reward: float = 0.0
    done: bool = False
    metrics: dict[str, float] = field(default_factory=dict)


class Env:
    """Base class of a multi-turn text environment (Gymnasium's ``reset`` / ``step``, over text).

    Subclasses take their parameters (``Sample.env.params``) as keyword arguments. ``stop`` lists the
    stop strings that end one action (on top of the engine's end-of-sequence token).
    """

    stop: list[str] = []

    def __init__(self, **params: Any) -> None:
        if params:
            raise TypeError(f"{type(self).__name__} takes no parameters, got {sorted(params)}")

    def reset(self, sample: Sample) -> Observation:
        """Start an episode for ``sample``; return the first prompt (messages or text).

        The default returns the sample's own ``messages`` or ``prompt``."""
        if sample.messages is not None:
            return [dict(m) for m in sample.messages]
        return sample.prompt or ""

    def step(self, action: str) -> StepResult:
        """Apply the model's action (the decoded text of its turn) and return what follows."""
        raise NotImplementedError

    def score(self) -> float | None:
        """An optional trajectory-level reward, added on the last generated token; None for none."""
        return None
