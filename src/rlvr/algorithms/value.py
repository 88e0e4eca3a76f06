"""The critic's math: PPO's clipped value loss and explained variance, over masked (B, T) tensors."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Aggregate = Callable[[Tensor, Tensor], Tensor]


def clipped_value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    mask: Tensor,
    clip: float | None,
    aggregate: Aggregate,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO's value loss (Schulman et al. 2017; the clipping of OpenAI baselines' ppo2):

        V_clip = V_old + clip(V - V_old, -clip, clip)
        L = 1/2 max((V - G)^2, (V_clip - G)^2)

    aggregated over the mask with ``aggregate``; ``clip`` None gives 1/2 (V - G)^2. values, old_values,
    returns, mask: (B, T). Metrics: ``vf_clipfrac`` (share of valid tokens where the clipped term is the
    larger) and ``value_mean``.
    """
    assert values.dim() == 2 and values.shape == old_values.shape == returns.shape == mask.shape, (
        values.shape,
        old_values.shape,
        returns.shape,
        mask.shape,
    )
    unclipped = (values - returns) ** 2  # (B, T)
    valid = mask > 0
    if clip is None:
        loss_mat = 0.5 * unclipped
        clipped_more = torch.zeros_like(valid)
    else:
        v_clip = old_values + (values - old_values).clamp(-clip, clip)
        clipped = (v_clip - returns) ** 2
        loss_mat = 0.5 * torch.maximum(unclipped, clipped)
        clipped_more = clipped > unclipped
    n = valid.sum().clamp_min(1)
    metrics = {
        "vf_clipfrac": ((clipped_more & valid).sum() / n).float().detach(),
        "value_mean": (torch.where(valid, values, torch.zeros_like(values)).sum() / n).detach(),
    }
    return aggregate(loss_mat, mask), metrics


def explained_variance(values: Tensor, returns: Tensor, mask: Tensor) -> Tensor:
    """1 - Var[G - V] / Var[G] over the valid tokens (population variances); 1 is a perfect critic, 0 one
    no better than a constant. NaN when the returns do not vary. (B, T) x 3 -> scalar"""
    valid = mask > 0
    g, v = returns[valid].double(), values[valid].double()
    if g.numel() == 0 or float(g.var(unbiased=False)) == 0.0:
        return torch.tensor(float("nan"))
    return (1 - (g - v).var(unbiased=False) / g.var(unbiased=False)).float()
