"""The two-level inverse-CDF sampler against the one-level search it replaces, and ``sample_next``'s
log-probabilities without a (B, V) log-softmax."""

from __future__ import annotations

import pytest
import torch

from rlvr.rollout import sampling
from rlvr.rollout.sampling import CDF_BLOCK, ONE_LEVEL_MAX_VOCAB, one_level, sample_categorical, sample_next


@pytest.fixture(params=["one level", "two levels"])
def levels(request, monkeypatch):
    """Both searches at every vocabulary size: the two levels forced down to the smallest."""
    if request.param == "two levels":
        monkeypatch.setattr(sampling, "ONE_LEVEL_MAX_VOCAB", 0)
    return request.param


def _one_level(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The first index whose float64 cumulative weight exceeds u * total."""
    cdf = weights.double().cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1).clamp_max(weights.size(-1) - 1)


@pytest.mark.parametrize("vocab", [5, CDF_BLOCK, 2 * CDF_BLOCK, 3 * CDF_BLOCK + 7, 49_152])
def test_draws_match_the_one_level_search(vocab, levels):
    gen = torch.Generator().manual_seed(vocab)
    rows = 256
    logits = torch.randn(rows, vocab, generator=gen) * torch.rand(rows, 1, generator=gen) * 8
    logits = logits.masked_fill(torch.rand(rows, vocab, generator=gen) < 0.3, float("-inf"))
    logits[:, 0] = 0.0  # every row has some weight
    weights = (logits - logits.amax(-1, keepdim=True)).exp()
    u = torch.rand(rows, 1, generator=gen, dtype=torch.float64)
    u[0], u[1] = 0.0, 1.0 - 2**-53  # the ends of [0, 1)
    draws = sample_categorical(weights, uniforms=u)
    assert torch.equal(draws, _one_level(weights, u))
    assert (weights.gather(-1, draws[:, None]) > 0).all()  # a zero weight is never drawn


def test_a_block_of_zeros_and_the_last_positive_weight_of_a_block(levels):
    vocab = 3 * CDF_BLOCK + 5
    weights = torch.zeros(4, vocab)
    weights[:, 10] = 1.0  # block 0
    weights[:, 2 * CDF_BLOCK + 3] = 2.0  # block 2; block 1 and the tail are all zeros
    u = torch.tensor([[0.0], [1 / 3 - 1e-12], [1 / 3], [1.0 - 2**-53]], dtype=torch.float64)
    assert sample_categorical(weights, uniforms=u).tolist() == [10, 10, 2 * CDF_BLOCK + 3, 2 * CDF_BLOCK + 3]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sample_next_logprob_equals_the_log_softmax(dtype, temperature, levels):
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(16, 3 * CDF_BLOCK + 11, generator=gen) * 4).to(dtype)
    logits[3, 100:] = float("-inf")
    tokens, logp = sample_next(logits, temperature, generator=torch.Generator().manual_seed(1))
    expected = (logits.float() / temperature).log_softmax(-1).gather(-1, tokens[:, None]).squeeze(-1)
    torch.testing.assert_close(logp, expected, rtol=0, atol=2e-5)
    # the same draws as drawing from the normalised probabilities with the same uniforms
    u = torch.rand((16, 1), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.equal(tokens, _one_level((logits.float() / temperature).softmax(-1), u))


def test_the_two_levels_are_for_large_vocabularies_on_the_cpu_only():
    assert one_level(torch.empty(8, ONE_LEVEL_MAX_VOCAB))
    assert not one_level(torch.empty(8, ONE_LEVEL_MAX_VOCAB + 1))
    # an accelerator keeps the one-level search (fewer kernel launches a decode step); shapes only here
    assert one_level(torch.empty(8, 151_936, device="meta"))
