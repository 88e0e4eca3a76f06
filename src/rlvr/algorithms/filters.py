"""Batch filters: which samples of a rollout batch enter the loss. Pure functions over (B,) tensors.

- DAPO dynamic sampling (Yu et al. 2025, arXiv 2503.14476): a group whose rewards are all equal (all
  correct or all wrong) has zero advantage under any group baseline and only dilutes the batch; keep
  groups with 0 < #correct < G, i.e. groups whose scores are not all equal.
- DAPO overlong filtering: mask truncated samples (finish reason 'length') out of the loss, so a
  response cut off mid-thought is not punished as if it were wrong.
"""

import torch
from torch import Tensor

from .advantages import group_stats


def informative_groups(scores: Tensor, group_index: Tensor, tol: float = 1e-8) -> Tensor:
    """keep_i = std(scores of i's group) > tol. (B,), (B,) -> (B,) bool (a group of one is dropped)."""
    assert scores.dim() == 1 and scores.shape == group_index.shape, (scores.shape, group_index.shape)
    _, std, _ = group_stats(scores.double(), group_index)
    return std > tol


def not_truncated(truncated: Tensor) -> Tensor:
    """keep_i = not truncated_i. (B,) bool -> (B,) bool"""
    assert truncated.dim() == 1 and truncated.dtype == torch.bool, truncated
    return ~truncated
