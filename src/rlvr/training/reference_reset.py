"""ProRL's reference-policy reset (Liu et al. 2025, arXiv 2505.24864).

Prolonged RL with a KL penalty ties the policy to an ever more distant reference. ProRL periodically
copies the current policy into the reference and resets the optimizer state, when a validation metric
degrades or plateaus (no fixed period in the paper). rlvr supports both triggers: every N steps, or
when a logged metric has not improved by ``min_delta`` for ``patience`` observations.
"""

from __future__ import annotations

from typing import Any

import torch

from rlvr.config import ReferenceResetConfig


class ResetPolicy:
    """Decides, step by step, whether to reset. Its state is part of a checkpoint."""

    def __init__(self, cfg: ReferenceResetConfig) -> None:
        self.cfg = cfg
        self.best: float | None = None
        self.stale = 0
        self.last_reset = 0

    def observe(self, step: int, metrics: dict[str, float]) -> str | None:
        """The reason to reset now (logged), or None."""
        cfg = self.cfg
        if cfg.every and step - self.last_reset >= cfg.every:
            return self._reset(step, f"every {cfg.every} steps")
        if cfg.metric is None or cfg.metric not in metrics:
            return None
        value = metrics[cfg.metric]
        sign = 1.0 if cfg.mode == "max" else -1.0
        if self.best is None or sign * (value - self.best) > cfg.min_delta:
            self.best, self.stale = value, 0
            return None
        self.stale += 1
        if self.stale >= cfg.patience:
            return self._reset(
                step, f"{cfg.metric} has not improved on {self.best:.4g} for {self.stale} evaluations"
            )
        return None

    def _reset(self, step: int, reason: str) -> str:
        self.last_reset, self.stale, self.best = step, 0, None
        return reason

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "stale": self.stale, "last_reset": self.last_reset}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.stale, self.last_reset = state["best"], state["stale"], state["last_reset"]


@torch.no_grad()
def copy_into_reference(policy: torch.nn.Module, reference: torch.nn.Module | str | None) -> None:
    """pi_ref <- pi_theta. A LoRA run's reference is the adapter-free base model, which cannot hold the
    policy without merging, so it is refused with an explanation."""
    if reference is None:
        raise ValueError("reference reset needs a reference model: set algorithm.kl_coef > 0")
    if isinstance(reference, str):
        raise ValueError(
            "reference reset is not supported with LoRA: the reference is the base model with the adapter "
            "disabled; train full weights to use ProRL's reset"
        )
    reference.load_state_dict(policy.state_dict())
