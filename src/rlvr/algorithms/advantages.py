"""Advantage estimators: token rewards -> (advantages, returns), each registered by name.

Every estimator has the signature

    fn(token_rewards (B, T), response_mask (B, T), group_index (B,), cfg, values (B, T) | None = None)
        -> (advantages (B, T), returns (B, T))

Outcome estimators (grpo, dr_grpo, rloo, reinforce) score a response by R_i = sum_t r_it * m_it (the
verifier's score sits on the last response token, plus any per-token -kl_coef * KL when the KL is in the
reward) and broadcast a per-sequence advantage to its tokens. Token estimators (reinforce_pp, gae) work
on discounted returns. All outputs are zero outside the response mask and carry no gradient.
"""

from collections.abc import Hashable, Sequence

import torch
from torch import Tensor

from .config import AlgorithmConfig
from .registries import ADVANTAGES


def _check(token_rewards: Tensor, response_mask: Tensor, group_index: Tensor) -> Tensor:
    """Validate shapes and return the mask as a float tensor of the rewards' dtype."""
    assert token_rewards.dim() == 2, f"token_rewards must be (B, T), got {tuple(token_rewards.shape)}"
    assert response_mask.shape == token_rewards.shape, (
        f"response_mask {tuple(response_mask.shape)} != token_rewards {tuple(token_rewards.shape)}"
    )
    assert group_index.shape == token_rewards.shape[:1], (
        f"group_index must be (B,) = ({token_rewards.shape[0]},), got {tuple(group_index.shape)}"
    )
    return response_mask.to(token_rewards.dtype)


def group_index_from_ids(ids: Sequence[Hashable]) -> Tensor:
    """Map per-sample group ids (e.g. prompt uids) to a (B,) long tensor, first-seen order."""
    table: dict[Hashable, int] = {}
    return torch.tensor([table.setdefault(i, len(table)) for i in ids], dtype=torch.long)


def outcome_scores(token_rewards: Tensor, response_mask: Tensor) -> Tensor:
    """R_i = sum_t r_it * m_it: the sequence score of each response. (B, T) -> (B,)"""
    return (token_rewards * response_mask.to(token_rewards.dtype)).sum(-1)


def group_stats(scores: Tensor, group_index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample mean, unbiased std and size of the sample's group. (B,), (B,) -> 3 x (B,)

    The std of a group of one is 0. Group ids may be any longs (not necessarily 0..G-1).
    """
    _, inverse, counts = torch.unique(group_index, return_inverse=True, return_counts=True)
    n = counts.to(scores.dtype)  # (G,)
    mean = scores.new_zeros(n.shape).index_add_(0, inverse, scores) / n  # (G,)
    sq_dev = (scores - mean[inverse]) ** 2  # (B,)
    var = scores.new_zeros(n.shape).index_add_(0, inverse, sq_dev) / (n - 1).clamp_min(1)  # (G,)
    return mean[inverse], var.sqrt()[inverse], n[inverse]


def masked_whiten(x: Tensor, mask: Tensor, eps: float) -> Tensor:
    """(x - mean) / (std + eps) over the valid tokens of the whole batch (unbiased std); 0 outside mask."""
    mask = mask.to(x.dtype)
    n = mask.sum()
    mean = (x * mask).sum() / n.clamp_min(1)
    var = (((x - mean) * mask) ** 2).sum() / (n - 1).clamp_min(1)
    return (x - mean) / (var.sqrt() + eps) * mask


def discounted_returns(token_rewards: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """G_t = sum_{k >= t, k valid} gamma^(#valid tokens between t and k) r_k over valid tokens. (B, T)

    Masked-out positions are skipped: their rewards are ignored and they do not count as a discount
    step, so a reward after a masked gap (e.g. an environment observation) still reaches earlier tokens.
    """
    running = token_rewards.new_zeros(token_rewards.shape[0])  # (B,)
    returns = torch.zeros_like(token_rewards)
    for t in reversed(range(token_rewards.shape[1])):
        valid = mask[:, t] > 0
        running = torch.where(valid, token_rewards[:, t] + gamma * running, running)
        returns[:, t] = running
    return returns * mask


def _broadcast(adv_seq: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sequence advantages (B,) -> (advantages, returns), both (B, T) and zero outside mask."""
    adv = adv_seq.unsqueeze(-1) * mask
    return adv, adv.clone()


@ADVANTAGES.register("grpo")
@torch.no_grad()
def grpo(
    token_rewards: Tensor,
    response_mask: Tensor,
    group_index: Tensor,
    cfg: AlgorithmConfig,
    values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """GRPO (Shao et al. 2024, DeepSeekMath): A_i = (R_i - mean_G) / (std_G + eps).

    std_G is the unbiased group std (torch.std, as in verl); with ``cfg.norm_adv_by_std=False`` the
    advantage is R_i - mean_G. A group of one gets advantage 0. Returns equal advantages.
    """
    mask = _check(token_rewards, response_mask, group_index)
    scores = outcome_scores(token_rewards, mask)  # (B,)
    mean, std, n = group_stats(scores, group_index)
    adv = scores - mean
    if cfg.norm_adv_by_std:
        adv = adv / (std + cfg.adv_eps)
    return _broadcast(torch.where(n > 1, adv, torch.zeros_like(adv)), mask)


@ADVANTAGES.register("dr_grpo")
@torch.no_grad()
def dr_grpo(
    token_rewards: Tensor,
    response_mask: Tensor,
    group_index: Tensor,
    cfg: AlgorithmConfig,
    values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training"): A_i = R_i - mean_G.

    No division by the group std, whatever ``cfg.norm_adv_by_std`` says. A group of one gets 0.
    """
    unscaled = cfg.model_copy(update={"norm_adv_by_std": False})
    return grpo(token_rewards, response_mask, group_index, unscaled, values)


@ADVANTAGES.register("rloo")
@torch.no_grad()
def rloo(
    token_rewards: Tensor,
    response_mask: Tensor,
    group_index: Tensor,
    cfg: AlgorithmConfig,
    values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """RLOO (Ahmadian et al. 2024): A_i = R_i - 1/(n-1) sum_{j != i} R_j = n/(n-1) (R_i - mean_G).

    A group of one gets 0.
    """
    mask = _check(token_rewards, response_mask, group_index)
    scores = outcome_scores(token_rewards, mask)  # (B,)
    mean, _, n = group_stats(scores, group_index)
    loo_mean = (mean * n - scores) / (n - 1).clamp_min(1)  # mean of the others
    adv = torch.where(n > 1, scores - loo_mean, torch.zeros_like(scores))
    return _broadcast(adv, mask)


@ADVANTAGES.register("reinforce")
@torch.no_grad()
def reinforce(
    token_rewards: Tensor,
    response_mask: Tensor,
    group_index: Tensor,
    cfg: AlgorithmConfig,
    values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """REINFORCE with a batch-mean baseline (Williams 1992): A_i = R_i - mean_batch R. Ignores groups."""
    mask = _check(token_rewards, response_mask, group_index)
    scores = outcome_scores(token_rewards, mask)  # (B,)
    return _broadcast(scores - scores.mean(), mask)


@ADVANTAGES.register("reinforce_pp")
@torch.no_grad()
def reinforce_pp(
    token_rewards: Tensor,
    response_mask: Tensor,
    group_index: Tensor,
    cfg: AlgorithmConfig,
    values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """REINFORCE++ (Hu 2025): G_t = sum_{k >= t} gamma^(k-t) r_k, then A = whiten(G) over the batch.

    Whitening uses the mean and unbiased std over all valid tokens of the batch. Returns are G (not
    whitened). Masked-out positions are skipped (see :func:`discounted_returns`).
    """
    mask = _check(token_rewards, response_mask, group_index)
    returns = discounted_returns(token_rewards, mask, cfg.gamma)  # (B, T)
    return masked_whiten(returns, mask, cfg.adv_eps), returns


@ADVANTAGES.register("gae")
@torch.no_grad()
def gae(
    token_rewards: Tensor,
    response_mask: Tensor,
    group_index: Tensor,
    cfg: AlgorithmConfig,
    values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """GAE (Schulman et al. 2016): delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lam A_{t+1}.

    t and t+1 range over valid tokens only: masked-out positions (left padding, or observation tokens
    inside a multi-turn response) are skipped, their rewards and values ignored, as in verl. The value
    after the last valid token is 0. Returns = A + V (before whitening); advantages are then whitened
    over the valid tokens of the batch.
    """
    mask = _check(token_rewards, response_mask, group_index)
    if values is None:
        raise ValueError("advantage estimator 'gae' needs values (B, T) from a critic; got values=None")
    assert values.shape == token_rewards.shape, f"values {tuple(values.shape)} != {tuple(mask.shape)}"
    next_value = token_rewards.new_zeros(token_rewards.shape[0])  # (B,)
    next_adv = torch.zeros_like(next_value)
    adv = torch.zeros_like(token_rewards)  # (B, T)
    for t in reversed(range(token_rewards.shape[1])):
        valid = mask[:, t] > 0
        delta = token_rewards[:, t] + cfg.gamma * next_value - values[:, t]
        next_adv = torch.where(valid, delta + cfg.gamma * cfg.lam * next_adv, next_adv)
        next_value = torch.where(valid, values[:, t], next_value)
        adv[:, t] = next_adv
    returns = torch.where(mask > 0, adv + values, torch.zeros_like(adv))
    return masked_whiten(adv, mask, cfg.adv_eps), returns


gae.needs_values = True  # type: ignore[attr-defined]  # read by registries.needs_values: a critic is required
