"""What the loop needs from each role: small typed protocols, the bundle the trainer is handed, and the
failure type.

The trainer never builds its roles and never asks where they live: ``RLTrainer(cfg, roles)`` takes a
:class:`Roles` whose members satisfy these protocols. :func:`rlvr.distributed.placement.build_roles`
builds them in this process or as Ray actors; a test can hand in plain in-memory objects
(``tests/training/test_trainer_fake_roles.py``). Every argument and result is plain data (token batches,
tensors, state dicts, completions), so a role can live in another process without the loop noticing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from torch import Tensor

    from rlvr.rewards.router import ScoreRequest
    from rlvr.rewards.types import RewardResult
    from rlvr.rollout.types import Completion, SamplingParams
    from rlvr.training.batch import TokenBatch
    from rlvr.training.checkpoint import Checkpoint, CheckpointState
    from rlvr.training.episode_rollout import EpisodeTargets


class RoleFailed(RuntimeError):
    """A role's process died and could not be restarted (or its restarts are used up). The trainer stops
    with a checkpoint (when the learner is still alive) and reports it."""


class LearnerProtocol(Protocol):
    """The policy being trained: its update, its weights and its share of a checkpoint."""

    def train_on(
        self, batch: TokenBatch, scores: Tensor, group_index: Tensor, episodes: EpisodeTargets | None = None
    ) -> dict[str, float]:
        """Advantages and one policy update on a scored batch: tokens (B, P + R), scores (B,), group
        index (B,) (rows of one group share it); returns the update's metrics. ``episodes`` (multi-turn
        rows) gives token rewards and the rows' trajectories instead."""
        ...

    def nonfinite_streak(self) -> int:
        """Consecutive updates skipped for a NaN/inf loss or gradient."""
        ...

    def weights(self) -> Any:
        """The current weights in the form :meth:`RolloutProtocol.sync` takes (a state dict, or a handle
        to one such as a Ray ObjectRef); a snapshot that later updates do not change."""
        ...

    def reset_reference(self) -> None:
        """ProRL: pi_ref <- pi_theta and fresh optimizer moments."""
        ...

    def save_checkpoint(
        self, run_dir: Path, state: CheckpointState, keep_last: int, with_reference: bool
    ) -> Path:
        """Fill in the learner's part of ``state`` and write the checkpoint; returns its directory."""
        ...

    def restore(self, ckpt: Checkpoint) -> None:
        """Put the weights, optimizer, schedule and counters back as ``ckpt`` saw them."""
        ...

    def save(self, path: Path) -> Path:
        """The policy (or its adapter) and tokenizer, loadable with from_pretrained."""
        ...

    def close(self) -> None: ...


class RolloutProtocol(Protocol):
    """The rollout engine the loop samples from (one worker or many used as one).

    ``shares_learner_model``: sampling uses the learner's own model object, so a weight sync only bumps
    the version (the local synchronous case). ``tokenizer`` encodes prompts for evaluation.
    """

    shares_learner_model: bool
    tokenizer: Any

    def generate_chunks(
        self, prompts: list[list[int]], params: SamplingParams
    ) -> Iterator[tuple[list[Completion], dict[str, float]]]:
        """(completions, info) per chunk in prompt order; ``prompt_index`` indexes ``prompts``; info has
        ``gen_s``, ``tokens`` and ``version`` (the weight version that sampled the chunk)."""
        ...

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        """All completions at once (what evaluation uses)."""
        ...

    def sync(self, weights: Any, version: int) -> float:
        """Load the learner's weights (None when ``shares_learner_model``); returns the seconds it took."""
        ...

    def generator_states(self) -> list[Any]:
        """The sampling streams, one per worker (checkpointed; restored around evaluation)."""
        ...

    def set_generator_states(self, states: Sequence[Any]) -> None: ...

    def seed_generators(self, seed: int) -> None: ...

    def close(self) -> None: ...


class RewardProtocol(Protocol):
    """Scoring: a router in this process, a process pool, the reward server's client or reward actors.
    ``rlvr.rewards.async_scoring.submit`` runs ``score`` in the background when there is no ``submit``."""

    def score(self, requests: Sequence[ScoreRequest], /) -> list[RewardResult]: ...

    def close(self) -> None: ...


class EnvWorkerProtocol(Protocol):
    """Environment workers for multi-turn rollouts (placeholder: the multi-turn issue defines the calls;
    an environment steps one trajectory: ``reset`` gives the first observation, ``step(action)`` the next
    observation, the turn's reward and whether the episode is done)."""

    def close(self) -> None: ...


@dataclass
class Roles:
    """The roles handed to the loop. ``on_close`` runs after every role is closed (e.g. it stops the Ray
    instance the builder started)."""

    learner: LearnerProtocol
    rollout: RolloutProtocol
    reward: RewardProtocol
    envs: EnvWorkerProtocol | None = None
    on_close: Callable[[], None] | None = None

    def close(self) -> None:
        self.rollout.close()
        self.reward.close()
        self.learner.close()
        if self.envs is not None:
            self.envs.close()
        if self.on_close is not None:
            self.on_close()
