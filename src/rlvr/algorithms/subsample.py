"""RaML's update subset (arXiv 2505.19815, ``num_update_sample_per_prompt`` in its verl fork): of each
prompt's n sampled responses only k, drawn uniformly without replacement, enter the policy loss. The
advantages are still computed over the whole group, so the sample budget (n, which sets the baseline)
and the gradient budget (k rows per prompt) vary apart. Pure functions over (B,) tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor


def update_subset(group_index: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """keep_i = row i is among the k rows of its group with the smallest uniform random key.

    group_index: (B,) long -> (B,) bool; a group of at most k rows keeps every row. Equivalent to
    ``random.sample(group, k)`` per group, drawn from ``generator`` (one key per row, in row order).
    """
    assert group_index.dim() == 1, group_index.shape
    if k < 1:
        raise ValueError(f"num_update_samples_per_prompt must be >= 1, got {k}")
    keys = torch.rand(group_index.shape, generator=generator, device=group_index.device)  # (B,)
    same = group_index[:, None] == group_index[None, :]  # (B, B)
    rank = (same & (keys[None, :] < keys[:, None])).sum(-1)  # (B,) rows of the group with a smaller key
    return rank < k


def update_subset_generator(seed: int, update: int) -> torch.Generator:
    """The generator of the subset drawn at optimizer update ``update`` of a run seeded ``seed``."""
    return torch.Generator().manual_seed(seed * 1_000_003 + update)
