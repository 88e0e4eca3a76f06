"""The one schema every task and data source is converted to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RewardSpec:
    """How a sample is scored: which verifier, against what, with which parameters.

    ``verifier`` is a registered verifier name (``math``, ``exact_match``, ...) or a ``module:attr``
    import path. ``ground_truth`` is whatever that verifier compares against (a string for ``math``,
    a list of test cases for ``code``, a reasoning-gym entry for ``reasoning_gym``). ``params`` are
    verifier keyword arguments. ``weight`` scales the verifier's score in the total reward.
    """

    verifier: str
    ground_truth: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0


@dataclass
class EnvSpec:
    """The environment a multi-turn sample is played in (``rlvr.envs``): a registered name or a
    ``module:attr`` path, its constructor keyword arguments, and the most assistant turns it allows."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    max_turns: int = 4

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"env {self.name!r}: max_turns must be >= 1, got {self.max_turns}")


@dataclass
class Sample:
    """One prompt with everything needed to score a completion of it.

    Exactly one of ``prompt`` (plain text, sent to the model as is) or ``messages`` (chat messages,
    rendered with the tokenizer's chat template) is set. With ``env`` set the sample is an episode:
    the environment's ``reset`` gives the first turn and its ``step`` scores each action.
    """

    id: str
    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    data_source: str = "default"
    reward: RewardSpec = field(default_factory=lambda: RewardSpec(verifier="exact_match"))
    response: str | None = None  # a reference completion, used by SFT
    metadata: dict[str, Any] = field(default_factory=dict)
    env: EnvSpec | None = None  # set for a multi-turn sample; None: one completion, scored by ``reward``
    # images shown with the prompt (``rlvr.data.images.ImageRef``: a path, bytes or a PIL image, decoded
    # when used); ``<image>`` in the prompt text marks where each goes
    images: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.env, dict):  # from JSON / YAML rows
            self.env = EnvSpec(**self.env)
        if (self.prompt is None) == (self.messages is None):
            raise ValueError(f"sample {self.id!r}: set exactly one of 'prompt' or 'messages'")
        if self.messages is not None:
            for i, m in enumerate(self.messages):
                if not isinstance(m, dict) or "role" not in m or "content" not in m:
                    raise ValueError(
                        f"sample {self.id!r}: messages[{i}] must be a dict with 'role' and 'content', got {m!r}"
                    )
