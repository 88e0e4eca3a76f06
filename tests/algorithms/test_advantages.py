"""Advantage estimators: hand-computed numbers, and naive per-group loops against the vectorised code."""

import math

import pytest
import torch

from rlvr.algorithms import ADVANTAGES, AlgorithmConfig, group_index_from_ids, group_stats


def outcome_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores [1, 0, 2, 5] on the last valid token; groups 7, 7, 7 and a singleton group 3."""
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [5.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    return rewards, mask, torch.tensor([7, 7, 7, 3])


def run(name: str, rewards, mask, groups, values=None, **cfg):
    return ADVANTAGES.get(name)(rewards, mask, groups, AlgorithmConfig(**cfg), values)


def per_token(seq_adv: list[float], mask: torch.Tensor) -> torch.Tensor:
    return torch.tensor(seq_adv).unsqueeze(-1) * mask.float()


def test_grpo_hand_computed():
    # group 7: scores 1, 0, 2 -> mean 1, unbiased var (0 + 1 + 1) / 2 = 1, std 1 -> A = 0, -1, 1.
    # group 3: one sample -> A = 0.
    adv, ret = run("grpo", *outcome_batch(), adv_eps=1e-8)
    expected = per_token([0.0, -1.0, 1.0, 0.0], outcome_batch()[1])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected)


def test_grpo_without_std_and_dr_grpo():
    # Group-centred only: 1 - 1, 0 - 1, 2 - 1; singleton 0. Scale scores by 3 to tell it apart from grpo.
    rewards, mask, groups = outcome_batch()
    expected = per_token([0.0, -3.0, 3.0, 0.0], mask)
    adv, _ = run("grpo", rewards * 3, mask, groups, norm_adv_by_std=False)
    torch.testing.assert_close(adv, expected)
    adv, _ = run("dr_grpo", rewards * 3, mask, groups, norm_adv_by_std=True)  # ignores the flag
    torch.testing.assert_close(adv, expected)


def test_grpo_equal_scores_give_zero():
    rewards = torch.tensor([[1.0], [1.0]])
    adv, _ = run("grpo", rewards, torch.ones(2, 1), torch.tensor([0, 0]))
    torch.testing.assert_close(adv, torch.zeros(2, 1))


def test_rloo_hand_computed():
    # A_i = R_i - mean of the others: 1 - (0 + 2) / 2 = 0; 0 - (1 + 2) / 2 = -1.5; 2 - (1 + 0) / 2 = 1.5.
    adv, _ = run("rloo", *outcome_batch())
    torch.testing.assert_close(adv, per_token([0.0, -1.5, 1.5, 0.0], outcome_batch()[1]))


def test_reinforce_hand_computed():
    # Batch mean (1 + 0 + 2 + 5) / 4 = 2 -> A = -1, -2, 0, 3; groups are ignored.
    adv, _ = run("reinforce", *outcome_batch())
    torch.testing.assert_close(adv, per_token([-1.0, -2.0, 0.0, 3.0], outcome_batch()[1]))


def test_score_sums_kl_in_reward_and_ignores_padding():
    # Per-token -0.1 (KL in the reward) + score 1 on the last valid token; 9 in padding is ignored.
    rewards = torch.tensor([[-0.1, -0.1, 1.0, 9.0], [-0.1, -0.1, -0.1, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    # scores 0.8 and -0.3, mean 0.25 -> A = +-0.55
    adv, _ = run("dr_grpo", rewards, mask, torch.tensor([0, 0]))
    torch.testing.assert_close(adv, per_token([0.55, -0.55], mask))


def test_reinforce_pp_hand_computed():
    # gamma 0.5. Row 0: r = 1, 0, 2 -> G = 1 + 0.5 * 0 + 0.25 * 2 = 1.5, 0 + 0.5 * 2 = 1, 2.
    # Row 1: r = 0, 4 | pad -> G = 2, 4. Valid G: 1.5, 1, 2, 2, 4 -> mean 2.1,
    # deviations -0.6, -1.1, -0.1, -0.1, 1.9, squares sum 5.2, unbiased var 5.2 / 4 = 1.3.
    rewards = torch.tensor([[1.0, 0.0, 2.0], [0.0, 4.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv, ret = run("reinforce_pp", rewards, mask, torch.tensor([0, 1]), gamma=0.5, adv_eps=1e-8)
    torch.testing.assert_close(ret, torch.tensor([[1.5, 1.0, 2.0], [2.0, 4.0, 0.0]]))
    std = math.sqrt(1.3)
    expected = torch.tensor([[-0.6, -1.1, -0.1], [-0.1, 1.9, 0.0]]) / std
    torch.testing.assert_close(adv, expected)


def test_gae_hand_computed():
    # gamma 1, lam 0.5, r = 0, 0, 1, V = 0.5, 0.25, 0.5:
    # delta_2 = 1 - 0.5 = 0.5, A_2 = 0.5; delta_1 = 0.5 - 0.25 = 0.25, A_1 = 0.25 + 0.5 * 0.5 = 0.5;
    # delta_0 = 0.25 - 0.5 = -0.25, A_0 = -0.25 + 0.5 * 0.5 = 0. Returns A + V = 0.5, 0.75, 1.
    # Whitened: mean 1/3, deviations -1/3, 1/6, 1/6, unbiased var (1/9 + 2/36) / 2 = 1/12.
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.25, 0.5]])
    adv, ret = run("gae", rewards, torch.ones(1, 3), torch.tensor([0]), values, lam=0.5, adv_eps=1e-8)
    torch.testing.assert_close(ret, torch.tensor([[0.5, 0.75, 1.0]]))
    torch.testing.assert_close(adv, torch.tensor([[-1 / 3, 1 / 6, 1 / 6]]) * math.sqrt(12))


def test_gae_skips_masked_positions():
    # Mask 0, 1, 0, 1: the masked 9s are ignored; valid r = 0, 1 and V = 0.5, 0.5.
    # delta = 1 - 0.5 = 0.5, A = 0.5; delta = 0 + 0.5 - 0.5 = 0, A = 0 + 0.5 * 0.5 = 0.25.
    # Returns 0.75, 1.0 at the valid positions. Whitened A: mean 0.375 -> -+1/sqrt(2).
    rewards = torch.tensor([[9.0, 0.0, 9.0, 1.0]])
    values = torch.tensor([[9.0, 0.5, 9.0, 0.5]])
    mask = torch.tensor([[0, 1, 0, 1]])
    adv, ret = run("gae", rewards, mask, torch.tensor([0]), values, lam=0.5, adv_eps=1e-8)
    torch.testing.assert_close(ret, torch.tensor([[0.0, 0.75, 0.0, 1.0]]))
    r = 1 / math.sqrt(2)
    torch.testing.assert_close(adv, torch.tensor([[0.0, -r, 0.0, r]]))


def test_gae_without_values_raises():
    with pytest.raises(ValueError, match="needs values"):
        run("gae", torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([0]))


def test_group_index_from_ids():
    assert group_index_from_ids(["b", "a", "b", "c"]).tolist() == [0, 1, 0, 2]


# ---- naive loops against the vectorised estimators, on random data ----


def random_batch(seed: int, batch: int = 12, length: int = 7):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(batch, length, generator=g)
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    mask = (torch.arange(length) < lengths.unsqueeze(-1)).float()
    mask[0, :2] = 0  # a left part of zeros, and a gap, to exercise skipping
    mask[1, 1] = 0
    mask[0, 2] = mask[1, 0] = 1
    groups = torch.randint(0, 4, (batch,), generator=g) * 10  # non-contiguous ids, some singletons
    groups[-1] = 99
    values = torch.randn(batch, length, generator=g)
    return rewards, mask, groups, values


def naive_outcome(name: str, rewards, mask, groups, eps: float) -> torch.Tensor:
    scores = [float((rewards[i] * mask[i]).sum()) for i in range(len(groups))]
    out = torch.zeros_like(rewards)
    for i, gi in enumerate(groups.tolist()):
        members = [scores[j] for j in range(len(groups)) if groups[j] == gi]
        n = len(members)
        mean = sum(members) / n
        if name == "reinforce":
            a = scores[i] - sum(scores) / len(scores)
        elif n == 1:
            a = 0.0
        elif name == "grpo":
            std = math.sqrt(sum((s - mean) ** 2 for s in members) / (n - 1))
            a = (scores[i] - mean) / (std + eps)
        elif name == "dr_grpo":
            a = scores[i] - mean
        else:  # rloo
            a = scores[i] - (sum(members) - scores[i]) / (n - 1)
        out[i] = a * mask[i]
    return out


def naive_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float) -> torch.Tensor:
    valid = x[mask > 0]
    return (x - valid.mean()) / (valid.std() + eps) * mask


def naive_returns_and_gae(rewards, mask, values, gamma: float, lam: float):
    returns, gae_adv = torch.zeros_like(rewards), torch.zeros_like(rewards)
    for i in range(rewards.shape[0]):
        idx = [t for t in range(rewards.shape[1]) if mask[i, t] > 0]  # compress to the valid tokens
        for k, t in enumerate(idx):
            later = idx[k:]
            returns[i, t] = sum(gamma**j * rewards[i, u] for j, u in enumerate(later))
            deltas = [
                rewards[i, u]
                + gamma * (values[i, idx[k + j + 1]] if k + j + 1 < len(idx) else 0)
                - values[i, u]
                for j, u in enumerate(later)
            ]
            gae_adv[i, t] = sum((gamma * lam) ** j * d for j, d in enumerate(deltas))
    return returns, gae_adv


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo", "reinforce"])
def test_outcome_estimators_match_loop(name, seed):
    rewards, mask, groups, _ = random_batch(seed)
    adv, ret = run(name, rewards, mask, groups)
    expected = naive_outcome(name, rewards, mask, groups, eps=1e-6)
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ret, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_token_estimators_match_loop(seed):
    rewards, mask, groups, values = random_batch(seed)
    returns, gae_adv = naive_returns_and_gae(rewards, mask, values, gamma=0.9, lam=0.8)
    adv, ret = run("reinforce_pp", rewards, mask, groups, gamma=0.9)
    torch.testing.assert_close(ret, returns, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(adv, naive_whiten(returns, mask, 1e-6), atol=1e-5, rtol=1e-5)
    adv, ret = run("gae", rewards, mask, groups, values, gamma=0.9, lam=0.8)
    torch.testing.assert_close(ret, (gae_adv + values) * mask, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(adv, naive_whiten(gae_adv, mask, 1e-6), atol=1e-5, rtol=1e-5)


def test_group_stats_singleton_std_is_zero():
    mean, std, n = group_stats(torch.tensor([3.0, 1.0, 2.0]), torch.tensor([5, 1, 1]))
    torch.testing.assert_close(mean, torch.tensor([3.0, 1.5, 1.5]))
    torch.testing.assert_close(std, torch.tensor([0.0, math.sqrt(0.5), math.sqrt(0.5)]))
    torch.testing.assert_close(n, torch.tensor([1.0, 2.0, 2.0]))


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo", "reinforce", "reinforce_pp", "gae"])
def test_outputs_zero_outside_mask_and_detached(name):
    rewards, mask, groups, values = random_batch(3)
    rewards.requires_grad_(True)
    adv, ret = run(name, rewards, mask, groups, values)
    assert not adv.requires_grad and not ret.requires_grad
    assert adv[mask == 0].abs().sum() == 0 and ret[mask == 0].abs().sum() == 0
