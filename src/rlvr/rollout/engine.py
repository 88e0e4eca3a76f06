"""What a rollout engine is to its callers: the protocol that ``HFEngine`` and ``VLLMEngine`` satisfy (and
the multi-turn runner to come), so the rollout role, evaluation and pseudo-labelling hold an engine
without knowing which one.

An engine samples ``params.n`` completions per prompt from token ids, with behaviour log-probs and
finish reasons (:class:`~rlvr.rollout.types.Completion`), from a ``torch.Generator`` of its own that
the caller checkpoints, restores and reseeds. An engine that holds its own copy of the weights (vLLM)
is also a :class:`WeightLoadingEngine`: the learner's weights are loaded into it after an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from rlvr.rollout.types import Completion, SamplingParams


@runtime_checkable
class CompletionSampler(Protocol):
    """What evaluation and pseudo-labelling need: a tokenizer and all completions of a list of prompts.
    Every engine is one, and so is the trainer's rollout role (one worker or many)."""

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """Encodes prompts (with the chat template) and decodes completions."""
        ...

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        """``params.n`` completions for each prompt, grouped: prompt 0's n first, then prompt 1's..."""
        ...


@runtime_checkable
class RolloutEngine(CompletionSampler, Protocol):
    """A rollout engine (``isinstance`` checks that the members exist, not their types)."""

    @property
    def generator(self) -> torch.Generator:
        """The sampling stream: its state is checkpointed and restored around evaluation."""
        ...

    def generate_iter(self, prompts: list[list[int]], params: SamplingParams) -> Iterator[list[Completion]]:
        """Like :meth:`generate`, in chunks in prompt order, so a consumer can score one chunk while the
        next one generates."""
        ...


@runtime_checkable
class WeightLoadingEngine(RolloutEngine, Protocol):
    """An engine with its own copy of the weights (vLLM), loaded from the learner's after an update, and
    resources to release."""

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Load new weights (Hugging Face names, e.g. a ``state_dict()``'s items)."""
        ...

    def close(self) -> None:
        """Release the engine's memory and processes."""
        ...
