import pytest
import torch

from rlvr.algorithms.config import AlgorithmConfig
from rlvr.embodied.policies import PERCEPTION, build_policy, param_counts
from rlvr.embodied.ppo import Rollout, advantages, episode_chunks, ppo_loss


def _rollout(t=4, n=2, hd=8, size=16):
    g = torch.Generator().manual_seed(0)
    dones = torch.zeros(t, n, dtype=torch.bool)
    dones[1, 0] = True  # env 0: an episode ends after step 1
    return Rollout(
        pictures=torch.randint(0, 255, (t, n, 2, size, size, 3), dtype=torch.uint8, generator=g),
        prev_actions=torch.randint(0, 5, (t, n), generator=g),
        hidden=torch.randn(t, n, hd, generator=g),
        actions=torch.randint(0, 4, (t, n), generator=g),
        logprobs=torch.full((t, n), -1.3863),
        values=torch.tensor([[0.5, 1.0], [0.2, 0.0], [0.1, -0.5], [0.3, 0.25]]),
        rewards=torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.0, 0.5], [-1.0, 2.0]]),
        dones=dones,
        last_values=torch.tensor([4.0, -2.0]),
    )


def test_episode_chunks_cut_at_episode_ends_and_bootstrap_cut_rows():
    ro = _rollout()
    ch = episode_chunks(ro, gamma=0.5)
    assert ch.env.tolist() == [0, 0, 1]
    assert ch.mask.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    # env 0, steps 0-1: ended by the episode, no bootstrap. steps 2-3: cut, + gamma * V_last = 2.0.
    # env 1: cut, + 0.5 * -2.0 = -1.0.
    assert ch.rewards.tolist() == [[1.0, 2.0, 0, 0], [0.0, 1.0, 0, 0], [0.0, 1.0, 0.5, 1.0]]


def test_advantages_are_rlvr_gae_on_the_rows_with_exact_returns():
    ro = _rollout()
    cfg = AlgorithmConfig(advantage="gae", gamma=0.5, lam=0.5)
    adv, ret = advantages(episode_chunks(ro, cfg.gamma), cfg)

    def returns(r, v, boot):  # loop version, a segment at a time: A_t = delta_t + gamma lam A_{t+1}
        a, nxt_v, out = 0.0, boot, []
        for rt, vt in zip(reversed(r), reversed(v), strict=True):
            a = rt + cfg.gamma * nxt_v - vt + cfg.gamma * cfg.lam * a
            nxt_v = vt
            out.append(a + vt)
        return out[::-1]

    assert ret[0, :2].tolist() == pytest.approx(returns([1.0, 2.0], [0.5, 0.2], 0.0))
    assert ret[1, :2].tolist() == pytest.approx(returns([0.0, -1.0], [0.1, 0.3], 4.0))
    assert ret[2].tolist() == pytest.approx(returns([0.0, 1.0, 0.5, 2.0], [1.0, 0.0, -0.5, 0.25], -2.0))
    valid = adv[episode_chunks(ro, cfg.gamma).mask > 0]
    assert float(valid.mean()) == pytest.approx(0.0, abs=1e-5)  # whitened over valid steps


@pytest.mark.parametrize("arch", ["late_fusion", "channelcat", "s2d_channelcat", "cross_attention"])
def test_each_perception_module_builds_and_runs(arch):
    policy = build_policy(arch, width=4, feat_dim=16, hidden=8, size=16)
    pics = torch.randint(0, 255, (3, 2, 2, 16, 16, 3), dtype=torch.uint8)
    logits, values, h = policy(pics, torch.zeros(3, 2, dtype=torch.long), torch.zeros(2, 8))
    assert logits.shape == (3, 2, 4) and values.shape == (3, 2) and h.shape == (2, 8)
    counts = param_counts(policy)
    assert 0 < counts["perception"] < counts["total"]
    # STOP starts unlikely
    assert torch.softmax(logits, -1)[..., 3].max() < 0.15


def test_registry_lists_the_four_and_names_unknown():
    assert {"late_fusion", "channelcat", "s2d_channelcat", "cross_attention"} <= set(PERCEPTION.names())
    with pytest.raises(KeyError, match="channelcat"):
        PERCEPTION.get("chanelcat")


def test_masked_forward_equals_full_forward_on_valid_steps():
    torch.manual_seed(0)
    policy = build_policy("channelcat", width=4, feat_dim=16, hidden=8, size=16)
    pics = torch.randint(0, 255, (3, 2, 2, 16, 16, 3), dtype=torch.uint8)
    prev = torch.zeros(3, 2, dtype=torch.long)
    mask = torch.tensor([[True, True], [True, False], [True, False]])
    full, vf, _ = policy(pics, prev, torch.zeros(2, 8))
    part, vp, _ = policy(pics, prev, torch.zeros(2, 8), mask=mask)
    torch.testing.assert_close(part[mask], full[mask])
    torch.testing.assert_close(vp[mask], vf[mask])


def test_ppo_loss_gradient_moves_the_policy_and_reports_clip_metrics():
    torch.manual_seed(0)
    ro = _rollout(hd=8)
    policy = build_policy("channelcat", width=4, feat_dim=16, hidden=8, size=16)
    cfg = AlgorithmConfig(advantage="gae", gamma=0.9, lam=0.9)
    ch = episode_chunks(ro, cfg.gamma)
    adv, ret = advantages(ch, cfg)
    loss, metrics = ppo_loss(policy, ro, ch, adv, ret, torch.arange(3), cfg, 0.5, 0.01)
    loss.backward()
    assert policy.actor.weight.grad is not None and policy.actor.weight.grad.abs().sum() > 0
    assert set(metrics) >= {"pg_loss", "value_loss", "entropy", "clip_frac", "approx_kl"}


@pytest.mark.parametrize("size", [32, 64])
def test_cross_attention_keeps_an_8x8_token_grid(size):
    from rlvr.embodied.policies import CrossAttention

    m = CrossAttention(width=4, feat_dim=8, size=size)
    assert m.pos.shape == (1, 64, 8) and m.obs_embed.kernel_size == (size // 8, size // 8)
    assert m(torch.zeros(2, 3, size, size), torch.zeros(2, 3, size, size)).shape == (2, 8)
