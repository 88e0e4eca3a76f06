"""Configuration of multi-turn episodes (samples with an ``env``): budgets, environment calls, turn rewards."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MultiTurnConfig(BaseModel):
    """How episodes run: see :mod:`rlvr.training.episodes`. Single-turn samples ignore this section."""

    model_config = ConfigDict(extra="forbid")

    max_total_tokens: int = Field(1024, ge=2)
    """Context budget of one training row (prompt, generated and observation tokens). A turn that would
    pass it is cut there and the trajectory ends with stop reason ``max_total_tokens``."""
    env_workers: int = Field(8, ge=0)
    """Threads that run environment calls (reset, step, score) concurrently; 0 runs them inline."""
    env_timeout_s: float = Field(30.0, gt=0)
    """Seconds one environment call may take; a call that takes longer is an error on its trajectory."""
    turn_rewards: Literal["sum", "return"] = "sum"
    """How per-turn rewards become a trajectory's learning signal for outcome estimators (grpo, rloo...):
    ``sum``: every turn's tokens share the trajectory's total reward; ``return``: each turn's tokens get
    the discounted reward-to-go from that turn on (``turn_gamma``). Token estimators (gae, reinforce_pp)
    always read each turn's reward at the turn's last generated token."""
    turn_gamma: float = Field(1.0, ge=0, le=1)
    """Discount per turn of the ``return`` mode: G_k = r_k + turn_gamma * G_(k+1)."""
