"""Multi-turn rows: rewards at turn ends, trajectories packed across rows, per-turn returns.

A multi-turn training row interleaves generated tokens (mask 1) with observation tokens (mask 0). Every
estimator in :mod:`rlvr.algorithms.advantages` skips masked positions, so it runs on such rows as they
are: an outcome estimator sums the turn rewards of the row, ``gae`` and ``reinforce_pp`` discount over
generated tokens only (the observation gap is not a time step). Where a template rewrote history, one
trajectory spans several rows; :func:`trajectory_advantages` packs a trajectory's rows side by side into
one sequence, runs the estimator on trajectories (GRPO over whole trajectories, GAE across rows), and
unpacks the result.

Shapes: B rows of response width R; N trajectories; K turns at most.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .config import AlgorithmConfig

Estimator = Callable[..., tuple[Tensor, Tensor]]

OUTCOME_ESTIMATORS = frozenset({"grpo", "dr_grpo", "rloo", "reinforce"})
"""Estimators that score a sequence by its summed reward; the ``return`` turn-reward mode applies to them."""


def turn_end_rewards(turn_end: Tensor, turn_reward: Tensor, width: int) -> Tensor:
    """Each turn's reward on its last generated token. turn_end (B, K) long (-1: no such turn),
    turn_reward (B, K) -> token rewards (B, width)."""
    assert turn_end.shape == turn_reward.shape and turn_end.dim() == 2, (turn_end.shape, turn_reward.shape)
    valid = turn_end >= 0
    out = torch.zeros((turn_end.size(0), width), dtype=turn_reward.dtype)
    rows = torch.arange(turn_end.size(0))[:, None].expand_as(turn_end)  # (B, K)
    return out.index_put_((rows[valid], turn_end[valid]), turn_reward[valid], accumulate=True)


def row_order(row_traj: Tensor) -> Tensor:
    """The ordinal of each row within its trajectory, in row order. (B,) -> (B,)"""
    order = torch.zeros_like(row_traj)
    seen: dict[int, int] = {}
    for i, t in enumerate(row_traj.tolist()):
        order[i] = seen.get(t, 0)
        seen[t] = int(order[i]) + 1
    return order


def pack_rows(x: Tensor, row_traj: Tensor, n_traj: int) -> Tensor:
    """Rows of each trajectory side by side: x (B, R), row_traj (B,) -> (N, J * R), J = most rows a
    trajectory has. Row j of trajectory n fills columns j*R .. (j+1)*R - 1; the rest is 0."""
    B, R = x.shape
    j = row_order(row_traj)  # (B,)
    J = int(j.max()) + 1 if B else 1
    packed = x.new_zeros((n_traj, J * R))
    cols = j[:, None] * R + torch.arange(R)  # (B, R)
    packed[row_traj[:, None].expand(B, R), cols] = x
    return packed


def unpack_rows(packed: Tensor, row_traj: Tensor, width: int) -> Tensor:
    """The inverse of :func:`pack_rows`: (N, J * R) -> (B, R)."""
    j = row_order(row_traj)
    cols = j[:, None] * width + torch.arange(width)  # (B, R)
    return packed[row_traj[:, None].expand_as(cols), cols]


def turn_index(mask: Tensor) -> Tensor:
    """Which turn (0, 1, ...) each valid token belongs to; -1 outside the mask. A turn is a run of valid
    tokens: a gap (observation tokens, mask 0) ends it. (N, L) -> (N, L) long"""
    valid = mask > 0
    prev = torch.nn.functional.pad(valid[:, :-1], (1, 0), value=False)
    starts = valid & ~prev  # (N, L) first token of each turn
    idx = starts.long().cumsum(-1) - 1
    return torch.where(valid, idx, torch.full_like(idx, -1))


def turn_returns(token_rewards: Tensor, mask: Tensor, gamma_turn: float) -> Tensor:
    """Reward-to-go per turn, discounted once per turn: G_k = R_k + gamma_turn * G_(k+1), where R_k sums
    the rewards on turn k's tokens. Every token of turn k holds G_k; 0 outside the mask. (N, L) -> (N, L)"""
    turn = turn_index(mask)  # (N, L)
    K = int(turn.max()) + 1 if turn.numel() else 0
    N = token_rewards.size(0)
    per_turn = token_rewards.new_zeros((N, max(K, 1)))
    valid = turn >= 0
    per_turn.index_put_(
        (torch.arange(N)[:, None].expand_as(turn)[valid], turn[valid]), token_rewards[valid], accumulate=True
    )
    G = torch.zeros_like(per_turn)
    running = per_turn.new_zeros(N)
    for k in reversed(range(K)):
        running = per_turn[:, k] + gamma_turn * running
        G[:, k] = running
    return torch.where(valid, G.gather(1, turn.clamp_min(0)), torch.zeros_like(token_rewards))


def per_turn_outcome_advantages(
    estimator: Estimator,
    token_rewards: Tensor,
    mask: Tensor,
    group_index: Tensor,
    cfg: AlgorithmConfig,
    gamma_turn: float,
) -> tuple[Tensor, Tensor]:
    """An outcome estimator run once per turn position: turn k's tokens get the advantage of the
    reward-to-go G_k (:func:`turn_returns`) against the G_k of the group's trajectories that reached turn
    k. With one turn this is the estimator itself. (N, L) -> advantages, returns (N, L)."""
    G = turn_returns(token_rewards, mask, gamma_turn)  # (N, L)
    turn = turn_index(mask)
    adv = torch.zeros_like(token_rewards)
    N = token_rewards.size(0)
    for k in range(int(turn.max()) + 1 if turn.numel() else 0):
        in_turn = turn == k  # (N, L)
        reached = in_turn.any(-1)  # (N,)
        first = in_turn.float().argmax(-1)  # (N,) a token of turn k
        score = G[torch.arange(N), first].where(reached, torch.zeros(N, dtype=G.dtype))
        # trajectories without turn k sit in groups of their own (advantage 0, no effect on the others)
        groups = torch.where(reached, group_index, group_index.max() + 1 + torch.arange(N))
        a, _ = estimator(score[:, None], reached.to(mask.dtype)[:, None], groups, cfg)
        adv = torch.where(in_turn, a[:, :1].expand_as(adv), adv)
    return adv, G


def trajectory_advantages(
    estimator: Estimator,
    token_rewards: Tensor,
    mask: Tensor,
    row_traj: Tensor,
    traj_group: Tensor,
    cfg: AlgorithmConfig,
    values: Tensor | None = None,
    per_turn_gamma: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Advantages and returns of multi-turn rows, computed over whole trajectories.

    token_rewards, mask, values: (B, R); row_traj (B,): the trajectory of each row; traj_group (N,): the
    group (sample) of each trajectory. ``per_turn_gamma`` None runs ``estimator`` on the packed
    trajectories (outcome estimators sum all turn rewards; gae / reinforce_pp discount over generated
    tokens across gaps and rows); a float runs an outcome estimator per turn on reward-to-go
    (:func:`per_turn_outcome_advantages`). -> advantages, returns (B, R), 0 outside the mask.
    """
    assert token_rewards.shape == mask.shape and row_traj.shape == token_rewards.shape[:1]
    N, R = traj_group.numel(), token_rewards.size(1)
    r, m = pack_rows(token_rewards, row_traj, N), pack_rows(mask, row_traj, N)  # (N, J*R)
    if per_turn_gamma is not None:
        adv, ret = per_turn_outcome_advantages(estimator, r, m, traj_group, cfg, per_turn_gamma)
    else:
        v = None if values is None else pack_rows(values, row_traj, N)
        adv, ret = estimator(r, m, traj_group, cfg, v)
    return unpack_rows(adv, row_traj, R) * mask, unpack_rows(ret, row_traj, R) * mask
