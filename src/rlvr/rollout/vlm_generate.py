"""The hf engine for vision-language models: the text engine's loop with the model's own vision path.

``VisionEngine`` is ``HFEngine`` (same chunking, sampling, stop strings, compaction of finished rows)
with two differences, both in how the model is run (``VisionSteps``):

- the prefill of a chunk's distinct prompts gets their vision inputs (``VisionPrompt.vision``, made
  once per prompt by its processor), batched, so each prompt's images go through the vision tower once
  for its whole group; the cache is then gathered to one row per completion as for text;
- positions are the model's own (``rlvr.models.vlm``): 3-D M-RoPE from ``get_rope_index`` for
  Qwen2-VL / Qwen2.5-VL (a decoded token's position is its 1-D position + the row's delta, in all three
  dims), 1-D otherwise; and an image token the policy emits is fed back as the pad token.

Every completion of a prompt carries the prompt's ``VisionInputs`` (``Completion.vision``), which is
how the learner recomputes log-probs with the same images. The fast decoder is never used here.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from rlvr.models.vlm import (
    VisionInputs,
    batch_vision,
    image_token_ids,
    mrope_positions,
    replace_image_tokens,
    replacement_id,
)
from rlvr.rollout.decode_steps import TransformersSteps
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.types import Completion, SamplingParams


class VisionSteps(TransformersSteps):
    """``TransformersSteps`` with vision inputs at prefill and the model's own positions.

    ``vision``: the keyword arguments of the prefill's distinct prompts (``batch_vision``), in their
    prefill order."""

    def __init__(self, model: torch.nn.Module, vision: dict[str, Tensor]) -> None:
        super().__init__(model)
        self.vision = vision
        self.image_ids = image_token_ids(model)
        self.replacement = replacement_id(model)
        self.delta: Tensor | None = None  # (b,) M-RoPE delta of each decode row; None: 1-D positions

    def prefill(
        self, input_ids: Tensor, positions: Tensor, prompt_mask: Tensor | None, owner: Tensor, capacity: int
    ) -> Tensor:
        mrope = mrope_positions(self.model, input_ids, prompt_mask, self.vision)
        if mrope is not None:
            positions, delta = mrope  # (3, U, P), (U,)
            self.delta = delta.to(owner.device)[owner]
        return super().prefill(input_ids, positions, prompt_mask, owner, capacity)

    def prefill_inputs(self) -> dict[str, Tensor]:
        return self.vision

    def decode(self, tokens: Tensor, positions: Tensor) -> Tensor:
        tokens = replace_image_tokens(tokens, self.image_ids, self.replacement)
        if self.delta is not None:  # (3, b, 1): text after the prompt, the same in every dim
            positions = (positions + self.delta)[None, :, None].expand(3, -1, -1)
        else:
            positions = positions[:, None]
        out = self.model(
            input_ids=tokens[:, None],
            attention_mask=self.next_key_mask(),
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_kw: self.cache},
        )
        return out.logits[:, -1, :]

    def keep(self, rows: Tensor) -> None:
        super().keep(rows)
        if self.delta is not None:
            self.delta = self.delta[rows.to(self.delta.device)]


class VisionEngine(HFEngine):
    """``HFEngine`` for a VLM: prompts may be ``VisionPrompt``s (see the module doc)."""

    def __init__(self, model, tokenizer, *args, **kwargs) -> None:
        super().__init__(model, tokenizer, *args, **kwargs)
        self.fast_decoder = False
        self._vision: list[VisionInputs] = []  # the vision inputs of the current call's prompts
        self._chunk: dict[str, Tensor] = {}  # the current chunk's batched vision inputs

    def generate_iter(self, prompts: list[list[int]], params: SamplingParams) -> Iterator[list[Completion]]:
        self._vision = [getattr(ids, "vision", None) or VisionInputs() for ids in prompts]
        yield from super().generate_iter(prompts, params)

    def _steps(self, seq_len: int, device: torch.device) -> VisionSteps:
        return VisionSteps(self.model, self._chunk)

    def _prefill(self, jobs: list[tuple[int, int, list[int]]], T: int):
        device = next(self.model.parameters()).device
        order = list(dict.fromkeys(i for i, _, _ in jobs))  # the base prefill's order of distinct prompts
        self._chunk = {k: v.to(device) for k, v in batch_vision([self._vision[i] for i in order]).items()}
        return super()._prefill(jobs, T)

    def _completions(self, jobs, tokens, logps, lengths, stopped) -> list[Completion]:
        completions = super()._completions(jobs, tokens, logps, lengths, stopped)
        for c in completions:
            vision = self._vision[c.prompt_index]
            c.vision = vision if vision.tensors else None
        return completions
