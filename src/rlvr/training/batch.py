"""Token batches: completions collated into the tensors the learner consumes.

Layout (as in verl): prompts left-padded to a common width P, responses right-padded to a common width R,

    input_ids  (B, P + R)   [pad pad p p p | r r r pad]
    response_mask (B, R)    1 on response tokens

so the response's log-probs are the logits at positions P-1 .. P+R-2, the same slice for every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor

from rlvr.models.vlm import VisionBatch
from rlvr.rollout.decode_steps import positions_from_mask
from rlvr.rollout.types import Completion


@dataclass
class TokenBatch:
    input_ids: Tensor  # (B, P+R) long
    attention_mask: Tensor  # (B, P+R) long
    position_ids: Tensor  # (B, P+R) long
    response_mask: Tensor  # (B, R) float
    behaviour_logprobs: Tensor  # (B, R) float, 0 outside the mask
    prompt_width: int
    vision: VisionBatch | None = None  # a VLM batch's images (rlvr.models.vlm); None: text only

    @property
    def size(self) -> int:
        return self.input_ids.size(0)

    @property
    def response_width(self) -> int:
        return self.response_mask.size(1)

    def select(self, index: Tensor | slice) -> TokenBatch:
        """Rows ``index`` of every tensor (a micro-batch or a shuffled mini-batch)."""
        out = self._map(lambda t: t[index])
        return out if self.vision is None else replace(out, vision=self.vision.select(index))

    def response_lengths(self) -> Tensor:
        """Tokens of each response (B,), from the attention mask: a row whose loss is masked keeps its length."""
        return self.attention_mask[:, self.prompt_width :].sum(-1)

    def prompt_lengths(self) -> Tensor:
        """Tokens of each prompt (B,), from the attention mask."""
        return self.attention_mask[:, : self.prompt_width].sum(-1)

    def drop_prompt_padding(self) -> TokenBatch:
        """The batch without the leading columns that are padding in every row (exact: padding is never
        attended to, and position ids count attended tokens only). A micro-batch of short prompts
        selected from a batch with long ones then runs at its own width."""
        cut = self.prompt_width - int(self.prompt_lengths().max()) if self.size else 0
        if cut <= 0:
            return self
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        kw.update(
            input_ids=self.input_ids[:, cut:],
            attention_mask=self.attention_mask[:, cut:],
            position_ids=self.position_ids[:, cut:],
            prompt_width=self.prompt_width - cut,
        )
        return TokenBatch(**kw)

    def trim(self, width: int) -> TokenBatch:
        """The batch with responses cut to ``width`` columns (exact when no response is longer: causal
        attention never lets a position see the padding after it)."""
        assert 1 <= width <= self.response_width, (width, self.response_width)
        cols = self.prompt_width + width
        return TokenBatch(
            self.input_ids[:, :cols],
            self.attention_mask[:, :cols],
            self.position_ids[:, :cols],
            self.response_mask[:, :width],
            self.behaviour_logprobs[:, :width],
            self.prompt_width,
            self.vision,
        )

    def to(self, device: torch.device) -> TokenBatch:
        out = self._map(lambda t: t.to(device))
        return out if self.vision is None else replace(out, vision=self.vision.to(device))

    def _map(self, fn: Callable[[Tensor], Tensor]) -> TokenBatch:
        """The batch with ``fn`` applied to every tensor field (the others are kept)."""
        changes: dict[str, Any] = {
            f.name: fn(v) for f in fields(self) if isinstance(v := getattr(self, f.name), Tensor)
        }
        return replace(self, **changes)


def collate(completions: list[Completion], pad_id: int) -> TokenBatch:
    """Stack completions (with their prompt ids) into a left/right padded TokenBatch."""
    if not completions:
        raise ValueError("cannot collate an empty list of completions")
    B = len(completions)
    p = torch.tensor([len(c.prompt_ids) for c in completions])  # (B,)
    r = torch.tensor([len(c.token_ids) for c in completions])  # (B,)
    P, R = int(p.max()), max(int(r.max()), 1)
    cols = torch.arange(P + R)  # (P+R,)
    in_prompt = (cols < P) & (cols >= P - p[:, None])  # (B, P+R)
    in_response = (cols >= P) & (cols < P + r[:, None])  # (B, P+R)
    # boolean-mask assignment fills cells row by row, left to right: the order of the flat lists
    input_ids = torch.full((B, P + R), pad_id, dtype=torch.long)
    input_ids[in_prompt] = torch.tensor([t for c in completions for t in c.prompt_ids], dtype=torch.long)
    input_ids[in_response] = torch.tensor([t for c in completions for t in c.token_ids], dtype=torch.long)
    attn = (in_prompt | in_response).long()
    resp_mask = in_response[:, P:].float()  # (B, R)
    if any(c.loss_mask is not None for c in completions):  # multi-turn rows: observation tokens are 0
        masks = [c.loss_mask if c.loss_mask is not None else [1] * len(c.token_ids) for c in completions]
        resp_mask[in_response[:, P:]] = torch.tensor([float(m) for row in masks for m in row])
    behaviour = torch.zeros((B, R))
    behaviour[in_response[:, P:]] = torch.tensor(
        [x for c in completions for x in c.logprobs], dtype=torch.float32
    )
    position_ids = positions_from_mask(attn)
    vision = VisionBatch.of([c.vision for c in completions])
    return TokenBatch(input_ids, attn, position_ids, resp_mask, behaviour, P, vision)


def length_buckets(lengths: Tensor, min_saving: float = 0.15) -> list[Tensor]:
    """Row indices of one or two groups to run as separate passes, each trimmed to its longest response.

    A pass over B rows costs about B * (longest + 1) token positions (the +1 is the prompt's last
    token); splitting the rows, sorted by length, at the point that costs least is worth a second pass
    when it saves at least ``min_saving`` of the positions (a long tail of lengths, the common case in
    RL). lengths: (B,) -> [rows (b1,), rows (b2,)] or [all rows].
    """
    assert lengths.dim() == 1 and lengths.numel() > 0, lengths.shape
    B = lengths.numel()
    order = lengths.argsort(stable=True)
    width = lengths[order].clamp_min(1) + 1  # (B,) ascending
    k = torch.arange(1, B, device=lengths.device)  # rows in the first group
    split_cost = k * width[:-1] + (B - k) * width[-1]  # (B-1,)
    whole = B * int(width[-1])
    if B < 2 or float(split_cost.min()) > (1 - min_saving) * whole:
        return [torch.arange(B, device=lengths.device)]
    cut = int(k[split_cost.argmin()])
    return [order[:cut], order[cut:]]


def last_token_rewards(scores: Tensor, response_mask: Tensor) -> Tensor:
    """Outcome rewards placed on each response's last valid token (the last 1 of the mask, which may
    have gaps: multi-turn observation tokens). (B,), (B, R) -> (B, R)"""
    assert scores.dim() == 1 and response_mask.dim() == 2 and scores.size(0) == response_mask.size(0)
    valid = response_mask > 0  # (B, R)
    cols = torch.arange(response_mask.size(1), device=response_mask.device)
    last = torch.where(valid, cols, -1).max(-1).values  # (B,) -1 for a row with no valid token
    token_rewards = torch.zeros_like(response_mask, dtype=torch.float32)
    rows = torch.arange(scores.size(0))
    has_tokens = last >= 0
    token_rewards[rows[has_tokens], last[has_tokens]] = scores[has_tokens].float()
    return token_rewards
