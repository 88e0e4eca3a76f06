"""Recurrent PPO for navigation policies, on rlvr's shared math.

The advantage is rlvr's ``gae`` and the policy loss rlvr's ``ppo_clip`` (``rlvr.algorithms``): both
take (B, T) rows with a mask, one trajectory per row, the value after a row's last step taken as 0.
A rollout of T steps x N envs is cut into such rows at episode ends (:func:`episode_chunks`); a row
cut by the end of the rollout, not by the episode's end, gets gamma * V(s_T) added to its last
reward, which is exactly the bootstrapped delta_T = r_T + gamma V(s_{T+1}) - V(s_T). The same rows
are the recurrent mini-batch unit: each starts at an episode start (GRU state 0) or at the rollout's
first step (the GRU state stored then), and has no episode boundary inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rlvr.algorithms.advantages import gae
from rlvr.algorithms.aggregation import token_mean
from rlvr.algorithms.config import AlgorithmConfig
from rlvr.algorithms.losses import ppo_clip
from rlvr.embodied.policies import NavPolicy


@dataclass
class Rollout:
    """T steps of N envs, time-major. Pictures uint8; everything else float / long tensors."""

    pictures: Tensor  # (T, N, 2, H, W, 3) uint8
    prev_actions: Tensor  # (T, N) long
    hidden: Tensor  # (T, N, Hd): GRU state before step t
    actions: Tensor  # (T, N) long
    logprobs: Tensor  # (T, N)
    values: Tensor  # (T, N)
    rewards: Tensor  # (T, N)
    dones: Tensor  # (T, N) bool: the episode ended with step t
    last_values: Tensor  # (N,): V of the observation after the last step


@dataclass
class Chunks:
    """Rows of the rollout: row b covers steps (t_index[b, :len_b], env[b]); padded with mask 0."""

    t_index: Tensor  # (B, L) long
    env: Tensor  # (B,) long
    mask: Tensor  # (B, L) float
    rewards: Tensor  # (B, L), bootstrapped at cut rows
    values: Tensor  # (B, L)


def episode_chunks(ro: Rollout, gamma: float) -> Chunks:
    """Cut each env's T steps at episode ends into rows (see the module docstring)."""
    t_len, n = ro.dones.shape
    spans: list[tuple[int, int, int]] = []  # (env, start, end exclusive)
    dones = ro.dones.numpy()
    for e in range(n):
        start = 0
        for t in np.nonzero(dones[:, e])[0]:
            spans.append((e, start, int(t) + 1))
            start = int(t) + 1
        if start < t_len:
            spans.append((e, start, t_len))
    longest = max(end - start for _, start, end in spans)
    b = len(spans)
    t_index = torch.zeros(b, longest, dtype=torch.long)
    mask = torch.zeros(b, longest)
    env = torch.tensor([s[0] for s in spans], dtype=torch.long)
    for i, (_, start, end) in enumerate(spans):
        t_index[i, : end - start] = torch.arange(start, end)
        mask[i, : end - start] = 1.0
    rewards = torch.where(mask > 0, ro.rewards[t_index, env[:, None]], 0.0)  # (B, L)
    values = torch.where(mask > 0, ro.values[t_index, env[:, None]], 0.0)  # (B, L)
    for i, (e, start, end) in enumerate(spans):
        if not dones[end - 1, e]:  # cut by the rollout's end: bootstrap
            rewards[i, end - start - 1] += gamma * ro.last_values[e]
    return Chunks(t_index, env, mask, rewards, values)


def advantages(chunks: Chunks, cfg: AlgorithmConfig) -> tuple[Tensor, Tensor]:
    """rlvr's GAE over the rows: (whitened advantages, returns), both (B, L)."""
    group = torch.arange(chunks.mask.shape[0])
    return gae(chunks.rewards, chunks.mask, group, cfg, values=chunks.values)


def evaluate_rows(
    policy: NavPolicy, ro: Rollout, chunks: Chunks, rows: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Log-probs of the taken actions, values and entropies for the given rows, each (b, L)."""
    t_index, env, mask = chunks.t_index[rows], chunks.env[rows], chunks.mask[rows]  # (b, L), (b,), (b, L)
    length = int(mask.sum(1).max())
    t_index, mask = t_index[:, :length], mask[:, :length]
    tt, ee = t_index.T, env[None].expand(length, -1)  # (L, b) time-major
    h0 = ro.hidden[t_index[:, 0], env]  # (b, Hd)
    dev = next(policy.parameters()).device  # the rollout stays on the CPU; the policy may not
    logits, values, _ = policy(
        ro.pictures[tt, ee].to(dev), ro.prev_actions[tt, ee].to(dev), h0.to(dev), mask=(mask.T > 0).to(dev)
    )
    logits, values = logits.cpu(), values.cpu()
    logp_all = F.log_softmax(logits, dim=-1)  # (L, b, A)
    logp = logp_all.gather(-1, ro.actions[tt, ee].unsqueeze(-1)).squeeze(-1)  # (L, b)
    entropy = -(logp_all.exp() * logp_all).sum(-1)  # (L, b)
    return logp.T, values.T, entropy.T


def ppo_loss(
    policy: NavPolicy,
    ro: Rollout,
    chunks: Chunks,
    adv: Tensor,
    returns: Tensor,
    rows: Tensor,
    cfg: AlgorithmConfig,
    value_coef: float,
    entropy_coef: float,
) -> tuple[Tensor, dict[str, float]]:
    """PPO-clip (rlvr's ``ppo_clip``, token mean over valid steps) + value MSE - entropy bonus."""
    logp, values, entropy = evaluate_rows(policy, ro, chunks, rows)
    length = logp.shape[1]
    mask = chunks.mask[rows, :length]  # (b, L)
    old_logp = torch.where(mask > 0, ro.logprobs[chunks.t_index[rows, :length], chunks.env[rows, None]], 0.0)
    pg_loss, pg_metrics = ppo_clip(logp, old_logp, adv[rows, :length], mask, cfg, token_mean)
    value_loss = 0.5 * token_mean((values - returns[rows, :length]) ** 2, mask)
    ent = token_mean(entropy, mask)
    loss = pg_loss + value_coef * value_loss - entropy_coef * ent
    metrics = {k: float(v) for k, v in pg_metrics.items() if k in ("clip_frac", "approx_kl", "ratio_mean")}
    metrics.update(
        pg_loss=float(pg_loss.detach()), value_loss=float(value_loss.detach()), entropy=float(ent.detach())
    )
    return loss, metrics
