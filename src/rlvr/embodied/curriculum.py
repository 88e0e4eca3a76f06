"""Where the training curriculum stands after some env steps: the largest start-goal distance and, for the
``straight`` task with ``env.curriculum_turns_start``, the largest start heading offset in turns. Both grow
linearly over ``env.curriculum_env_steps``; the envs apply them from their next episode."""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.embodied.config import EnvConfig, whole_turns


@dataclass(frozen=True)
class Curriculum:
    max_goal_distance: float
    """Largest start-goal distance drawn now, metres."""
    max_turn_offset: float | None
    """Largest start heading offset from the goal picture's, whole turns either way; None: the whole circle."""


def curriculum(env: EnvConfig, env_steps: int) -> Curriculum:
    """The curriculum's bounds after ``env_steps`` training env steps (the full task without a curriculum)."""
    if not env.curriculum_env_steps:
        return Curriculum(env.goal_max, None)
    frac = min(1.0, env_steps / env.curriculum_env_steps)
    metres = env.curriculum_start + frac * (env.goal_max - env.curriculum_start)
    if env.curriculum_turns_start is None:
        return Curriculum(metres, None)
    half_circle = (whole_turns(env.turn_deg) or 0) / 2
    turns = env.curriculum_turns_start + frac * (half_circle - env.curriculum_turns_start)
    return Curriculum(metres, turns)
