"""Multi-turn rows (observation gaps, trajectories over several rows) through every estimator and
aggregation, with hand-computed numbers."""

import pytest
import torch

from rlvr.algorithms import ADVANTAGES, LOSS_AGGREGATIONS, AlgorithmConfig
from rlvr.algorithms.multiturn import (
    pack_rows,
    per_turn_outcome_advantages,
    trajectory_advantages,
    turn_end_rewards,
    turn_index,
    turn_returns,
    unpack_rows,
)

S = 2**-0.5  # (x - mean) / std for a group of two different scores


def test_turn_end_rewards_sit_on_each_turns_last_generated_token():
    ends = torch.tensor([[1, 4, -1], [0, -1, -1]])
    rewards = torch.tensor([[0.5, 1.0, 9.0], [2.0, 9.0, 9.0]])
    assert turn_end_rewards(ends, rewards, 6).tolist() == [[0, 0.5, 0, 0, 1.0, 0], [2.0, 0, 0, 0, 0, 0]]


def test_gae_skips_observation_tokens():
    # generated, generated, observation, observation, generated; garbage on the observation tokens
    mask = torch.tensor([[1.0, 1, 0, 0, 1]])
    rewards = torch.tensor([[0.0, 0.1, 7, 7, 1.0]])
    values = torch.tensor([[0.5, 0.2, 9, 9, 0.4]])
    cfg = AlgorithmConfig(gamma=0.9, lam=0.8)
    _, returns = ADVANTAGES.get("gae")(rewards, mask, torch.tensor([0]), cfg, values)
    # by hand over the generated tokens only: V = (0.5, 0.2, 0.4), r = (0, 0.1, 1)
    a2 = 1.0 - 0.4  # 0.6
    a1 = 0.1 + 0.9 * 0.4 - 0.2 + 0.9 * 0.8 * a2  # 0.692
    a0 = 0.0 + 0.9 * 0.2 - 0.5 + 0.9 * 0.8 * a1  # 0.17824
    assert returns[0].tolist() == pytest.approx([a0 + 0.5, a1 + 0.2, 0, 0, a2 + 0.4])


def compact(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The valid tokens of each row moved to the front (a row without gaps)."""
    out = torch.zeros_like(x)
    for i in range(x.size(0)):
        v = x[i][mask[i] > 0]
        out[i, : v.numel()] = v
    return out


@pytest.mark.parametrize("name", ADVANTAGES.names())
def test_every_estimator_on_gapped_rows_equals_it_on_the_rows_without_gaps(name):
    g = torch.Generator().manual_seed(0)
    mask = torch.tensor(
        [[1.0, 1, 0, 0, 1, 1, 0], [1, 0, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1, 0], [0, 1, 0, 1, 0, 1, 1]]
    )
    rewards = torch.rand(mask.shape, generator=g) * mask
    values = torch.rand(mask.shape, generator=g)
    groups = torch.tensor([0, 0, 1, 1])
    cfg = AlgorithmConfig(gamma=0.9, lam=0.95)
    fn = ADVANTAGES.get(name)
    adv, ret = fn(rewards, mask, groups, cfg, values)
    cmask = compact(mask, mask)
    cadv, cret = fn(compact(rewards, mask), cmask, groups, cfg, compact(values, mask))
    torch.testing.assert_close(compact(adv, mask), cadv, atol=1e-5, rtol=0)
    torch.testing.assert_close(compact(ret, mask), cret, atol=1e-5, rtol=0)
    assert torch.all(adv[mask == 0] == 0)


def test_grpo_over_whole_trajectories_split_across_rows():
    # trajectory 0 (group 0) spans rows 0 and 1 (a template rewrote history); scores: 1.0 and 0.0 in
    # group 0, 0.3 and 0.1 in group 1
    mask = torch.tensor([[1.0, 0, 1], [1, 1, 0], [1, 0, 1], [1, 1, 1], [1, 0, 0]])
    rewards = torch.tensor([[0.0, 0, 0.5], [0, 0.5, 0], [0, 0, 0.0], [0, 0, 0.3], [0.1, 0, 0]])
    row_traj = torch.tensor([0, 0, 1, 2, 3])
    traj_group = torch.tensor([0, 0, 1, 1])
    adv, ret = trajectory_advantages(
        ADVANTAGES.get("grpo"), rewards, mask, row_traj, traj_group, AlgorithmConfig()
    )
    expected = torch.tensor([S, S, -S, S, -S])[:, None] * mask
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=0)


def test_gae_runs_across_the_rows_of_one_trajectory():
    mask = torch.tensor([[1.0, 0, 1], [1, 1, 0]])
    rewards = torch.tensor([[0.0, 0, 0.5], [0, 1.0, 0]])
    values = torch.tensor([[0.2, 5, 0.1], [0.3, 0.4, 5]])
    cfg = AlgorithmConfig(gamma=0.5, lam=1.0)
    _, ret = trajectory_advantages(
        ADVANTAGES.get("gae"), rewards, mask, torch.tensor([0, 0]), torch.tensor([0]), cfg, values
    )
    # lam = 1: returns are discounted returns over the generated tokens 0.0, 0.5 | 0.0, 1.0
    g3 = 1.0
    g2 = 0.0 + 0.5 * g3
    g1 = 0.5 + 0.5 * g2
    g0 = 0.0 + 0.5 * g1
    torch.testing.assert_close(ret, torch.tensor([[g0, 0, g1], [g2, g3, 0]]))


def test_pack_and_unpack_rows():
    x = torch.arange(12.0).reshape(4, 3)
    row_traj = torch.tensor([1, 0, 1, 2])
    packed = pack_rows(x, row_traj, 3)
    assert packed.tolist() == [[3, 4, 5, 0, 0, 0], [0, 1, 2, 6, 7, 8], [9, 10, 11, 0, 0, 0]]
    assert torch.equal(unpack_rows(packed, row_traj, 3), x)


def test_turn_returns_discount_once_per_turn():
    mask = torch.tensor([[1.0, 1, 0, 1, 0, 1, 1]])
    rewards = torch.tensor([[0.0, 0.5, 0, 0.0, 0, 0, 1.0]])
    assert turn_index(mask).tolist() == [[0, 0, -1, 1, -1, 2, 2]]
    G = turn_returns(rewards, mask, gamma_turn=0.5)
    assert G.tolist() == [[0.75, 0.75, 0, 0.5, 0, 1.0, 1.0]]  # G2 = 1, G1 = 0 + 0.5, G0 = 0.5 + 0.25


def test_per_turn_grpo_compares_reward_to_go_at_each_turn():
    # A: turns with rewards 0.5, 0, 1 -> G = 0.75, 0.5, 1; B: turns with rewards 0, 1 -> G = 0.5, 1
    mask = torch.tensor([[1.0, 1, 0, 1, 0, 1, 1], [1, 0, 1, 1, 0, 0, 0]])
    rewards = torch.tensor([[0.0, 0.5, 0, 0.0, 0, 0, 1.0], [0, 0, 0, 1.0, 0, 0, 0]])
    adv, G = per_turn_outcome_advantages(
        ADVANTAGES.get("grpo"), rewards, mask, torch.tensor([0, 0]), AlgorithmConfig(), 0.5
    )
    assert G[1].tolist() == [0.5, 0, 1, 1, 0, 0, 0]
    # turn 0: 0.75 vs 0.5; turn 1: 0.5 vs 1; turn 2: A alone (advantage 0)
    expected = torch.tensor([[S, S, 0, -S, 0, 0, 0], [-S, 0, S, S, 0, 0, 0]])
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=0)
    # gamma_turn = 1 with a single reward at the end: on the turns both reached, GRPO on the trajectory
    last = torch.tensor([[0.0, 0, 0, 0, 0, 0, 1.0], [0, 0, 0, 0, 0, 0, 0]])
    a1, _ = per_turn_outcome_advantages(
        ADVANTAGES.get("grpo"), last, mask, torch.tensor([0, 0]), AlgorithmConfig(), 1.0
    )
    a2, _ = ADVANTAGES.get("grpo")(last, mask, torch.tensor([0, 0]), AlgorithmConfig())
    torch.testing.assert_close(a1[:, :4], a2[:, :4])
    assert a1[0, 5:].tolist() == [0.0, 0.0]  # A's third turn has no peer: advantage 0


def test_loss_aggregations_count_generated_tokens_only():
    loss = torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8]])
    mask = torch.tensor([[1.0, 0, 1, 0], [0, 1, 1, 1]])  # gaps: observation tokens
    agg = {n: LOSS_AGGREGATIONS.get(n) for n in LOSS_AGGREGATIONS.names()}
    assert float(agg["token_mean"](loss, mask)) == pytest.approx((1 + 3 + 6 + 7 + 8) / 5)
    assert float(agg["seq_mean_token_mean"](loss, mask)) == pytest.approx(((1 + 3) / 2 + (6 + 7 + 8) / 3) / 2)
    assert float(agg["seq_mean_token_sum"](loss, mask)) == pytest.approx((4 + 21) / 2)
    assert float(agg["seq_mean_token_sum_norm"](loss, mask, norm_len=4)) == pytest.approx(25 / 8)
