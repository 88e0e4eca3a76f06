"""LoRA adapter settings, shared by the policy (``model.lora``) and the critic (``critic.lora``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoraConfig(BaseModel):
    """LoRA adapters through peft; only the adapters are trained and checkpointed."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    r: int = Field(16, gt=0)
    """Rank of the adapters."""
    alpha: int = Field(32, gt=0)
    """Scaling numerator (the update is scaled by alpha / r)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the adapter input."""
    target_modules: list[str] | str = "all-linear"
    """Module names to adapt, or 'all-linear'."""
