"""Micro-batches by a token budget (verl's dynamic batch size): rows sorted by length, packed greedily.

A micro-batch of rows S runs as one padded pass of |S| x (longest prompt + longest response in S)
token positions, and its activations and logits grow with that product, not with |S|. With
``trainer.max_tokens_per_micro_batch`` the learner sorts a mini-batch's rows by length (longest first)
and packs them while the padded size stays within the budget, and at most ``micro_batch_size`` rows; a
row longer than the budget runs alone. Without it, micro-batches are consecutive slices of
``micro_batch_size`` rows, as before.

The grouping never changes the update: each micro-batch's loss is aggregated with the mini-batch's
global token and sequence counts, so the micro-batch losses (and gradients) add up to the whole
mini-batch's (tests/training/test_microbatch.py).
"""

from __future__ import annotations

import torch
from torch import Tensor


def micro_batches(
    prompt_lengths: Tensor, response_lengths: Tensor, max_rows: int, max_tokens: int | None = None
) -> list[Tensor]:
    """Row indices of each micro-batch. prompt_lengths, response_lengths: (B,) -> [rows (b_i,), ...].

    Every row is in exactly one micro-batch. With ``max_tokens``, rows are taken longest first and a
    micro-batch holds at most ``max_rows`` rows and ``rows x (longest prompt + longest response)`` <=
    ``max_tokens`` (a single longer row runs alone).
    """
    assert prompt_lengths.shape == response_lengths.shape and prompt_lengths.dim() == 1
    assert max_rows >= 1, max_rows
    B = prompt_lengths.numel()
    if max_tokens is None:
        return [torch.arange(s, min(s + max_rows, B)) for s in range(0, B, max_rows)]
    total = (prompt_lengths + response_lengths).tolist()
    order = sorted(range(B), key=lambda i: (-total[i], i))
    p, r = prompt_lengths.tolist(), response_lengths.tolist()
    groups: list[list[int]] = []
    cur: list[int] = []
    width_p = width_r = 0
    for i in order:
        wp, wr = max(width_p, p[i]), max(width_r, r[i])
        if cur and (len(cur) + 1 > max_rows or (len(cur) + 1) * (wp + wr) > max_tokens):
            groups.append(cur)
            cur, wp, wr = [], p[i], r[i]
        cur.append(i)
        width_p, width_r = wp, wr
    if cur:
        groups.append(cur)
    return [torch.tensor(g, dtype=torch.long) for g in groups]
