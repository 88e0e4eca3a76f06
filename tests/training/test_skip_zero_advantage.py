"""trainer.skip_zero_advantage: rows whose advantage is 0 everywhere are left out of the update, and the
update is the same as with every row in it."""

import copy
import random

import pytest
import torch

from rlvr.algorithms import AlgorithmConfig
from rlvr.config import OptimConfig, TrainerConfig
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.types import Completion
from rlvr.training.batch import collate
from rlvr.training.learner import Learner


@pytest.fixture(scope="module")
def model():
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, max_positions=64)
    return build_tiny_model(cfg, build_tokenizer())


def _batch(n_prompts: int = 4, n: int = 4, seed: int = 0):
    rng = random.Random(seed)
    completions = []
    for i in range(n_prompts):
        prompt = [rng.randrange(4, 90) for _ in range(rng.choice([3, 6]))]
        for k in range(n):
            tokens = [rng.randrange(4, 90) for _ in range(rng.choice([1, 3, 5]))]
            completions.append(Completion(i, tokens, [-1.0] * len(tokens), "", "stop", prompt, k))
    return collate(completions, pad_id=0)


def _advantages(batch, zero_groups: set[int], n: int = 4, seed: int = 0):
    """Per-row advantages broadcast over tokens; the rows of ``zero_groups`` get exactly 0."""
    g = torch.Generator().manual_seed(seed)
    adv = torch.randn(batch.size, 1, generator=g).expand(-1, batch.response_width).clone()
    for group in zero_groups:
        adv[group * n : (group + 1) * n] = 0.0
    return adv


def _learner(model, skip: bool, micro_batch_size: int = 64, **algo) -> Learner:
    trainer = TrainerConfig(micro_batch_size=micro_batch_size, skip_zero_advantage=skip)
    return Learner(
        copy.deepcopy(model), AlgorithmConfig(**algo), OptimConfig(lr=1e-2), trainer, 10, 1.0, norm_len=5
    )


def _same_weights(a: Learner, b: Learner, atol: float = 1e-6) -> bool:
    return all(
        torch.allclose(x, y, atol=atol)
        for x, y in zip(a.model.parameters(), b.model.parameters(), strict=True)
    )


def _same_gradients(a: Learner, b: Learner) -> bool:
    """The gradients of the last update (AdamW's first step is about lr * sign(g), so weights would
    magnify float rounding where g is near 0: gradients are the exact check)."""
    return all(
        torch.allclose(x.grad, y.grad, rtol=1e-4, atol=1e-8)
        for x, y in zip(a.model.parameters(), b.model.parameters(), strict=True)
    )


@pytest.mark.parametrize("loss_agg", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
@pytest.mark.parametrize("micro_batch_size", [64, 3])
def test_leaving_zero_advantage_rows_out_gives_the_same_update(model, loss_agg, micro_batch_size):
    batch = _batch()
    adv = _advantages(batch, zero_groups={1, 3})
    skip = _learner(model, True, micro_batch_size, loss_agg=loss_agg)
    full = _learner(model, False, micro_batch_size, loss_agg=loss_agg)
    m_skip, m_full = skip.update(batch, adv, None, None), full.update(batch, adv, None, None)
    assert m_skip["train/skipped_rows_frac"] == pytest.approx(0.5)
    assert m_full["train/skipped_rows_frac"] == 0.0
    assert m_skip["train/pg_loss"] == pytest.approx(m_full["train/pg_loss"], abs=1e-6)
    assert m_skip["train/grad_norm"] == pytest.approx(m_full["train/grad_norm"], rel=1e-4)
    assert _same_gradients(skip, full)
    assert not _same_weights(skip, _learner(model, False))  # and the update did change the weights


def test_an_all_zero_mini_batch_still_takes_the_optimizer_step(model):
    """AdamW moves the weights on a zero gradient (its moments): leaving every row out must not skip that."""
    batch = _batch()
    skip, full = _learner(model, True), _learner(model, False)
    for learner in (skip, full):
        learner.update(batch, _advantages(batch, zero_groups=set()), None, None)  # builds the moments
    zero = _advantages(batch, zero_groups={0, 1, 2, 3})
    m_skip, m_full = skip.update(batch, zero, None, None), full.update(batch, zero, None, None)
    assert m_skip["train/skipped_rows_frac"] == 1.0
    assert m_skip["train/grad_norm"] == 0.0 == pytest.approx(m_full["train/grad_norm"], abs=1e-7)
    assert _same_weights(skip, full)


@pytest.mark.parametrize("algo", [{"entropy_coef": 0.01}, {"kl_coef": 0.1}])
def test_rows_are_kept_when_another_term_gives_them_a_gradient(model, algo):
    batch = _batch()
    adv = _advantages(batch, zero_groups={1, 3})
    ref = torch.zeros(batch.size, batch.response_width) - 2.0 if "kl_coef" in algo else None
    skip, full = _learner(model, True, **algo), _learner(model, False, **algo)
    m_skip, m_full = skip.update(batch, adv, None, ref), full.update(batch, adv, None, ref)
    assert m_skip["train/skipped_rows_frac"] == 0.0
    assert m_skip["train/entropy"] == pytest.approx(m_full["train/entropy"], rel=1e-5)
    assert _same_gradients(skip, full)
