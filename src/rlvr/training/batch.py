"""Token batches: completions collated into the tensors the learner consumes.

Layout (as in verl): prompts left-padded to a common width P, responses right-padded to a common width R,

    input_ids  (B, P + R)   [pad pad p p p | r r r pad]
    response_mask (B, R)    1 on response tokens

so the response's log-probs are the logits at positions P-1 .. P+R-2, the same slice for every row.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

from rlvr.rollout.types import Completion


@dataclass
class TokenBatch:
    input_ids: Tensor  # (B, P+R) long
    attention_mask: Tensor  # (B, P+R) long
    position_ids: Tensor  # (B, P+R) long
    response_mask: Tensor  # (B, R) float
    behaviour_logprobs: Tensor  # (B, R) float, 0 outside the mask
    prompt_width: int

    @property
    def size(self) -> int:
        return self.input_ids.size(0)

    @property
    def response_width(self) -> int:
        return self.response_mask.size(1)

    def select(self, index: Tensor | slice) -> TokenBatch:
        """Rows ``index`` of every tensor (a micro-batch or a shuffled mini-batch)."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return TokenBatch(**{k: v[index] if isinstance(v, Tensor) else v for k, v in kw.items()})

    def to(self, device: torch.device) -> TokenBatch:
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return TokenBatch(**{k: v.to(device) if isinstance(v, Tensor) else v for k, v in kw.items()})


def collate(completions: list[Completion], pad_id: int) -> TokenBatch:
    """Stack completions (with their prompt ids) into a left/right padded TokenBatch."""
    if not completions:
        raise ValueError("cannot collate an empty list of completions")
    B = len(completions)
    P = max(len(c.prompt_ids) for c in completions)
    R = max(max(len(c.token_ids) for c in completions), 1)
    input_ids = torch.full((B, P + R), pad_id, dtype=torch.long)
    attn = torch.zeros((B, P + R), dtype=torch.long)
    resp_mask = torch.zeros((B, R))
    behaviour = torch.zeros((B, R))
    for row, c in enumerate(completions):
        p, r = len(c.prompt_ids), len(c.token_ids)
        input_ids[row, P - p : P] = torch.tensor(c.prompt_ids, dtype=torch.long)
        input_ids[row, P : P + r] = torch.tensor(c.token_ids, dtype=torch.long)
        attn[row, P - p : P + r] = 1
        resp_mask[row, :r] = 1
        behaviour[row, :r] = torch.tensor(c.logprobs)
    position_ids = (attn.cumsum(-1) - 1).clamp(min=0)
    return TokenBatch(input_ids, attn, position_ids, resp_mask, behaviour, P)


def last_token_rewards(scores: Tensor, response_mask: Tensor) -> Tensor:
    """Outcome rewards placed on each response's last token. (B,), (B, R) -> (B, R)"""
    assert scores.dim() == 1 and response_mask.dim() == 2 and scores.size(0) == response_mask.size(0)
    lengths = response_mask.sum(-1).long()  # (B,)
    token_rewards = torch.zeros_like(response_mask, dtype=torch.float32)
    rows = torch.arange(scores.size(0))
    has_tokens = lengths > 0
    token_rewards[rows[has_tokens], lengths[has_tokens] - 1] = scores[has_tokens].float()
    return token_rewards
