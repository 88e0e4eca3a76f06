"""KL estimators: hand-computed values, properties, and the kl_penalty lookup."""

import math

import pytest
import torch

from rlvr.algorithms import KL_ESTIMATORS, kl_penalty

LOGP = torch.log(torch.tensor([[0.5, 0.25]]))
REF = torch.log(torch.tensor([[0.25, 0.25]]))


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("k1", math.log(2)),  # log 0.5 - log 0.25
        ("k2", 0.5 * math.log(2) ** 2),
        ("k3", 0.5 + math.log(2) - 1),  # log r = -log 2: r - log r - 1 = 0.5 + log 2 - 1
    ],
)
def test_hand_computed(name, first):
    kl = kl_penalty(LOGP, REF, name)
    torch.testing.assert_close(kl, torch.tensor([[first, 0.0]]))  # equal log-probs give 0


def test_k3_clamps_the_log_ratio():
    # log r = ref - logp = 100 is clamped to 20: exp(20) - 20 - 1, finite.
    kl = kl_penalty(torch.tensor([[-100.0]]), torch.tensor([[0.0]]), "k3")
    torch.testing.assert_close(kl, torch.tensor([[math.exp(20) - 21]]))


def test_k3_unbiased_and_k2_k3_nonnegative():
    # Sample from p, estimate KL(p || q) exactly known for two categoricals.
    p, q = torch.tensor([0.7, 0.2, 0.1]), torch.tensor([0.3, 0.3, 0.4])
    true_kl = float((p * (p / q).log()).sum())
    idx = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    logp, ref = p.log()[idx].unsqueeze(0), q.log()[idx].unsqueeze(0)
    for name in ["k1", "k3"]:
        assert kl_penalty(logp, ref, name).mean().item() == pytest.approx(true_kl, abs=0.01)
    for name in ["k2", "k3"]:
        assert (kl_penalty(logp, ref, name) >= 0).all()


def test_gradient_of_k3():
    # d/dlogp [exp(ref - logp) - (ref - logp) - 1] = 1 - exp(ref - logp) = 1 - 0.5 for the first token.
    logp = LOGP.clone().requires_grad_(True)
    KL_ESTIMATORS.get("k3")(logp, REF).sum().backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[0.5, 0.0]]))
