"""Plain data passed out of a rollout engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SamplingParams(BaseModel):
    """How completions are sampled. The same fields drive every engine (hf, vllm)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    n: int = Field(8, ge=1)
    """Completions per prompt (the GRPO group size)."""
    temperature: float = Field(1.0, ge=0)
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p."""
    top_k: int = Field(0, ge=0)
    """Keep only the k most likely tokens; 0 disables."""
    max_new_tokens: int = Field(64, ge=1)
    """Completion length limit; a completion that reaches it finishes with reason 'length'."""
    stop: list[str] = Field(default_factory=list)
    """Stop strings: generation of a completion ends once its text contains one (kept in the output)."""


@dataclass
class Completion:
    """One sampled completion of one prompt.

    ``logprobs[t]`` is the behaviour policy's log-probability of ``token_ids[t]`` under the
    temperature-scaled distribution softmax(logits / T) (before top-k / top-p truncation), which is what
    the learner recomputes, so that the two are comparable for importance sampling.
    """

    prompt_index: int
    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str  # "stop" (eos or a stop string) | "length"
    prompt_ids: list[int] = field(default_factory=list)
    sample_index: int = 0  # which of the prompt's n completions this is (0..n-1)
    # multi-turn rows: 1 on generated tokens, 0 on observation tokens (None: every token generated)
    loss_mask: list[int] | None = None
    # a VLM prompt's vision inputs (rlvr.models.vlm.VisionInputs), one object shared by its n completions
    vision: Any = None
