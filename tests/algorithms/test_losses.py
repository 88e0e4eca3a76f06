"""Policy losses: hand-computed losses, metrics and gradients."""

import functools
import math

import pytest
import torch

from rlvr.algorithms import LOSS_AGGREGATIONS, POLICY_LOSSES, AlgorithmConfig

TOKEN_MEAN = LOSS_AGGREGATIONS.get("token_mean")


def batch(adv, ratio, old_prob, mask=None):
    """Tensors (1, T) with logprobs = log(old_prob * ratio), so that exp(logp - old_logp) = ratio."""
    old = torch.log(torch.tensor([old_prob]))
    logprobs = (old + torch.log(torch.tensor([ratio]))).requires_grad_(True)
    mask = torch.ones_like(old) if mask is None else torch.tensor([mask], dtype=torch.float32)
    return logprobs, old, torch.tensor([adv]), mask


def loss_fn(name, logprobs, old, adv, mask, aggregate=TOKEN_MEAN, behaviour=None, **cfg):
    fn = POLICY_LOSSES.get(name)
    return fn(logprobs, old, adv, mask, AlgorithmConfig(**cfg), aggregate, behaviour_logprobs=behaviour)


def main_batch():
    # tokens:    clipped high, inside, clipped low, inside, A = 0.5, padding (ignored)
    return batch(
        adv=[1.0, 1.0, -1.0, -1.0, 0.5, 100.0],
        ratio=[1.5, 0.9, 0.5, 1.1, 1.0, 10.0],
        old_prob=[0.5, 0.5, 0.9, 0.9, 0.5, 0.5],
        mask=[1, 1, 1, 1, 1, 0],
    )


def test_ppo_clip_loss_and_metrics():
    # l = max(-A r, -A clip(r, 0.8, 1.2)):
    # tok0 max(-1.5, -1.2) = -1.2; tok1 -0.9; tok2 max(0.5, 0.8) = 0.8; tok3 1.1; tok4 -0.5.
    # token mean = (-1.2 - 0.9 + 0.8 + 1.1 - 0.5) / 5 = -0.14
    logprobs, old, adv, mask = main_batch()
    loss, m = loss_fn("ppo_clip", logprobs, old, adv, mask)
    torch.testing.assert_close(loss, torch.tensor(-0.14))
    expected = {
        "clip_frac_low": 0.2,  # tok2
        "clip_frac_high": 0.2,  # tok0
        "clip_frac": 0.4,
        "dual_clip_frac": 0.0,
        "ratio_mean": 1.0,  # (1.5 + 0.9 + 0.5 + 1.1 + 1.0) / 5
        "ratio_max": 1.5,
        "ratio_min": 0.5,
        "approx_kl": -(math.log(1.5) + math.log(0.9) + math.log(0.5) + math.log(1.1)) / 5,
        # old prob > 0.8: tok2, tok3 (tok2 clipped low); the rest: tok0, tok1, tok4 (tok0 clipped high)
        "clip_frac_low_highprob": 0.5,
        "clip_frac_high_highprob": 0.0,
        "clip_frac_low_lowprob": 0.0,
        "clip_frac_high_lowprob": 1 / 3,
        "token_frac_highprob": 0.4,
    }
    assert set(m) == set(expected)
    for k, v in expected.items():
        assert m[k].dim() == 0 and not m[k].requires_grad, k
        assert m[k].item() == pytest.approx(v, abs=1e-6), k


def test_ppo_clip_gradient_is_zero_for_clipped_tokens():
    # d l / d logp = -A r where unclipped, 0 where clipped; divided by 5 valid tokens.
    logprobs, old, adv, mask = main_batch()
    loss, _ = loss_fn("ppo_clip", logprobs, old, adv, mask)
    loss.backward()
    expected = torch.tensor([[0.0, -0.9 / 5, 0.0, 1.1 / 5, -0.5 / 5, 0.0]])
    torch.testing.assert_close(logprobs.grad, expected)


def test_ppo_without_clip():
    # l = -A r: (-1.5 - 0.9 + 0.5 + 1.1 - 0.5) / 5 = -0.26, and nothing counts as clipped.
    logprobs, old, adv, mask = main_batch()
    loss, m = loss_fn("ppo_clip", logprobs, old, adv, mask, clip=False, dual_clip_c=3.0)
    torch.testing.assert_close(loss, torch.tensor(-0.26))
    assert m["clip_frac"].item() == 0.0 and m["dual_clip_frac"].item() == 0.0


def test_clip_higher():
    # A = 1, r = 1.25: eps_high 0.2 clips at 1.2; eps_high 0.28 (DAPO) leaves it at 1.25.
    args = batch(adv=[1.0], ratio=[1.25], old_prob=[0.5])
    assert loss_fn("ppo_clip", *args, eps_high=0.2)[0].item() == pytest.approx(-1.2)
    assert loss_fn("ppo_clip", *args, eps_high=0.28)[0].item() == pytest.approx(-1.25)


def test_dual_clip():
    # c = 3. tok0 A = -1, r = 4: max(4, 1.2) = 4 -> min(4, 3) = 3 (dual clip).
    # tok1 A = -1, r = 2: 2 (bound 3 inactive). tok2 A = 1, r = 4: max(-4, -1.2) = -1.2.
    logprobs, old, adv, mask = batch(adv=[-1.0, -1.0, 1.0], ratio=[4.0, 2.0, 4.0], old_prob=[0.1, 0.1, 0.1])
    loss, m = loss_fn("ppo_clip", logprobs, old, adv, mask, dual_clip_c=3.0)
    torch.testing.assert_close(loss, torch.tensor(3.8 / 3))
    assert m["dual_clip_frac"].item() == pytest.approx(1 / 3)
    assert m["clip_frac_high"].item() == pytest.approx(1 / 3)
    assert m["clip_frac_low"].item() == 0.0
    loss.backward()
    torch.testing.assert_close(logprobs.grad, torch.tensor([[0.0, 2.0 / 3, 0.0]]))  # -A r / 3 for tok1


@pytest.mark.parametrize("name", ["ppo_clip", "vanilla_pg"])
def test_truncated_importance_sampling(name):
    # r = 1 (on-policy learner), old / behaviour = 1, 3, 0.5, cap 2 -> w = 1, 2, 0.5; A = 1.
    # ppo_clip: l = -A r w; vanilla_pg: l = -A log(0.5) w. Both weighted the same way.
    logprobs, old, adv, mask = batch(adv=[1.0, 1.0, 1.0], ratio=[1.0, 1.0, 1.0], old_prob=[0.5, 0.5, 0.5])
    behaviour = old - torch.log(torch.tensor([[1.0, 3.0, 0.5]]))
    loss, m = loss_fn(name, logprobs, old, adv, mask, behaviour=behaviour, tis_cap=2.0)
    expected = {"ppo_clip": -1.0 * 3.5 / 3, "vanilla_pg": math.log(2) * 3.5 / 3}[name]
    assert loss.item() == pytest.approx(expected)
    assert m["tis_ratio_mean"].item() == pytest.approx(1.5)
    assert m["tis_ratio_max"].item() == pytest.approx(3.0)
    assert m["tis_clip_frac"].item() == pytest.approx(1 / 3)
    loss.backward()  # d l / d logp = -A w / 3 for both losses
    torch.testing.assert_close(logprobs.grad, -torch.tensor([[1.0, 2.0, 0.5]]) / 3)


def test_tis_needs_both_cap_and_behaviour_logprobs():
    logprobs, old, adv, mask = batch(adv=[1.0], ratio=[1.0], old_prob=[0.5])
    behaviour = old - math.log(3.0)
    loss, m = loss_fn("ppo_clip", logprobs, old, adv, mask, behaviour=behaviour)  # no cap
    assert loss.item() == pytest.approx(-1.0) and "tis_ratio_mean" not in m
    loss, m = loss_fn("ppo_clip", logprobs, old, adv, mask, tis_cap=2.0)  # no behaviour log-probs
    assert loss.item() == pytest.approx(-1.0) and "tis_ratio_mean" not in m


def test_vanilla_pg():
    # l = -A log p: -2 log 0.5 = 2 log 2, -1 log 0.25 = 2 log 2 -> mean 2 log 2; grad -A / 2.
    logprobs, old, adv, mask = batch(adv=[2.0, 1.0], ratio=[1.0, 2.0], old_prob=[0.5, 0.125])
    loss, m = loss_fn("vanilla_pg", logprobs, old, adv, mask)
    assert loss.item() == pytest.approx(2 * math.log(2))
    assert m["ratio_max"].item() == pytest.approx(2.0) and m["ratio_mean"].item() == pytest.approx(1.5)
    loss.backward()
    torch.testing.assert_close(logprobs.grad, torch.tensor([[-1.0, -0.5]]))


def test_on_policy_ppo_gradient_equals_vanilla_pg():
    g = torch.Generator().manual_seed(0)
    old = -torch.rand(3, 5, generator=g) * 3
    adv, mask = torch.randn(3, 5, generator=g), (torch.rand(3, 5, generator=g) > 0.3).float()
    grads = []
    for name in ["ppo_clip", "vanilla_pg"]:
        logprobs = old.clone().requires_grad_(True)
        loss_fn(name, logprobs, old, adv, mask)[0].backward()
        grads.append(logprobs.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_aggregate_is_the_callers():
    # seq_mean_token_sum over the 5 valid tokens of one sequence, global num_seqs = 2: -0.7 / 2.
    aggregate = functools.partial(LOSS_AGGREGATIONS.get("seq_mean_token_sum"), num_seqs=2)
    loss, _ = loss_fn("ppo_clip", *main_batch(), aggregate=aggregate)
    torch.testing.assert_close(loss, torch.tensor(-0.35))


def test_empty_mask_metrics_are_zero():
    logprobs, old, adv, _ = batch(adv=[1.0], ratio=[2.0], old_prob=[0.9])
    loss, m = loss_fn("ppo_clip", logprobs, old, adv, torch.zeros(1, 1))
    assert loss.item() == 0.0
    assert all(v.item() == 0.0 for v in m.values())
