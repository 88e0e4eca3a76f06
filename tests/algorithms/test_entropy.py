"""Log-probs and entropies from logits."""

import math

import torch

from rlvr.algorithms import entropy_from_logits, logprobs_from_logits


def test_hand_computed():
    # Row 0: uniform over 2 -> H = log 2, log p(1) = log 0.5.
    # Row 1: logits (0, log 3) -> p = (0.25, 0.75), H = -(0.25 log 0.25 + 0.75 log 0.75), log p(1) = log 0.75.
    logits = torch.tensor([[[0.0, 0.0], [0.0, math.log(3)]]])
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    torch.testing.assert_close(entropy_from_logits(logits), torch.tensor([[math.log(2), h]]))
    lp = logprobs_from_logits(logits, torch.tensor([[1, 1]]))
    torch.testing.assert_close(lp, torch.tensor([[math.log(0.5), math.log(0.75)]]))


def test_stable_for_large_and_masked_logits():
    logits = torch.tensor([[[1000.0, 1000.0, -float("inf")]]])
    torch.testing.assert_close(entropy_from_logits(logits), torch.tensor([[math.log(2)]]))
    lp = logprobs_from_logits(logits, torch.tensor([[0]]))  # float32 ulp at 1000 is 6e-5
    torch.testing.assert_close(lp, torch.tensor([[math.log(0.5)]]), atol=1e-4, rtol=0)


def test_matches_torch_on_random_bf16_and_gradients():
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(2, 3, 11, generator=g) * 4).requires_grad_(True)
    labels = torch.randint(0, 11, (2, 3), generator=g)
    dist = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(entropy_from_logits(logits), dist.entropy())
    torch.testing.assert_close(logprobs_from_logits(logits, labels), dist.log_prob(labels))
    lp_bf16 = logprobs_from_logits(logits.bfloat16(), labels)
    assert lp_bf16.dtype == torch.float32
    torch.testing.assert_close(lp_bf16, dist.log_prob(labels), atol=0.05, rtol=0.02)
    (grad,) = torch.autograd.grad(logprobs_from_logits(logits, labels).sum(), logits)
    (expected,) = torch.autograd.grad(
        torch.distributions.Categorical(logits=logits).log_prob(labels).sum(), logits
    )
    torch.testing.assert_close(grad, expected)
    (grad,) = torch.autograd.grad(entropy_from_logits(logits).sum(), logits)
    (expected,) = torch.autograd.grad(torch.distributions.Categorical(logits=logits).entropy().sum(), logits)
    torch.testing.assert_close(grad, expected)
