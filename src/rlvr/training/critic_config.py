"""Configuration of the learned critic (the value model of PPO with ``algorithm.advantage: gae``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rlvr.config_lora import LoraConfig


class CriticConfig(BaseModel):
    """A value model trained alongside the policy. Leave the section out (null) for critic-free
    estimators (grpo, rloo...); ``gae`` needs it."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    """Model directory of the critic's backbone (any causal LM); None copies the policy's starting weights."""
    lora: LoraConfig | None = None
    """Train LoRA adapters on the critic's backbone (and its value head) instead of all its weights; only
    they are checkpointed. The backbone stays the frozen copy of the policy's starting weights (with a
    LoRA policy: its base model) or of ``path``."""
    lr: float = Field(1e-5, gt=0)
    """Learning rate of the critic's own AdamW optimizer."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay of the critic."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the critic's gradient norm to this; None disables."""
    lr_warmup_steps: int = Field(0, ge=0)
    """Linear warm-up of the critic's learning rate over this many updates."""
    warmup_steps: int = Field(0, ge=0)
    """Critic warm-up: the first this-many training steps update the critic only (the policy is frozen),
    so that advantages start from a critic that has seen some returns."""
    value_clip: float | None = Field(0.2, gt=0)
    """PPO value clipping: a new value may move at most this far from the rollout's value before the
    loss stops pulling it (None: plain squared error)."""
    epochs: int | None = Field(None, ge=1)
    """Passes over each batch for the critic; None uses trainer.ppo_epochs."""
