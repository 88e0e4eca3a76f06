"""A learner sharded with FSDP2 over 2 gloo processes takes the same step as one process on the same batch:
the same loss, gradient norm, metrics, gradients and updated weights (atol 1e-6), for every loss aggregation.

AdamW's first step moves a weight by about lr * g / (|g| + eps), so where a gradient element is near 0 a
rounding difference in it (the ranks add the gradient in another order than one process does; a small
element is the sum of much larger terms) is amplified up to lr / eps times. With lr = 1e-2 and eps = 1e-8
(lr / eps = 1e6), 1 weight in ~1000 ended up to 5e-6 apart though the gradients agree to 1e-9; with
lr / eps = 1e3 a gradient element 4.7e-9 apart moved its weight 1.07e-6 apart (after the log-probs took
their logsumexp from their own exp pass). The tests use lr = 1e-3 and eps = 1e-5 (lr / eps = 100, as in
RL recipes: lr 1e-6 .. 1e-5 with eps 1e-8 is 100 .. 1000), and compare the gradients themselves at 1e-7."""

from __future__ import annotations

import copy

import pytest
import torch

from rlvr.algorithms import AlgorithmConfig
from rlvr.config import OptimConfig, TrainerConfig
from rlvr.distributed.spawn import run_ranks
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.training.learner import Learner
from rlvr.training.learner_config import LearnerConfig

from ..training.test_microbatch import _batch

TINY = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, max_positions=64)
AGGREGATIONS = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "seq_mean_token_sum_norm"]


def _inputs(filtered: bool = False):
    """A batch of 16 rows, its advantages and reference log-probs; ``filtered``: rows 0-6 have advantage 0
    (the zero_advantage filter leaves them out) and there is no KL term."""
    batch = _batch()
    g = torch.Generator().manual_seed(0)
    adv = torch.randn(batch.size, 1, generator=g).expand(-1, batch.response_width).clone()
    ref = torch.randn(batch.size, batch.response_width, generator=g) - 3.0
    if filtered:
        adv[:7] = 0.0
        return batch, adv, None
    return batch, adv, ref


def _learner(model, cls, loss_agg, micro, max_tokens, mini, filtered=False):
    trainer = TrainerConfig(
        micro_batch_size=micro,
        max_tokens_per_micro_batch=max_tokens,
        mini_batch_size=mini,
        skip_zero_advantage=filtered,
        ppo_epochs=2 if mini else 1,
    )
    coefs = {"kl_coef": 0.0, "entropy_coef": 0.0} if filtered else {"kl_coef": 0.05, "entropy_coef": 0.01}
    algo = AlgorithmConfig(loss_agg=loss_agg, **coefs)
    return cls(model, algo, OptimConfig(lr=1e-3, eps=1e-5), trainer, 10, 0.8, norm_len=12)


def _step(learner, batch, adv, ref) -> tuple[dict[str, float], torch.Tensor]:
    old = learner.logprobs(batch) * batch.response_mask
    return learner.update(batch, adv, old, ref), old


def _sharded_step(rank, world_size, loss_agg, micro, max_tokens, mini, filtered=False):
    from rlvr.distributed.fsdp import full_tensor, shard_model
    from rlvr.distributed.sharded_learner import ShardedLearner

    torch.manual_seed(0)
    model = shard_model(build_tiny_model(TINY, build_tokenizer()), LearnerConfig())
    learner = _learner(model, ShardedLearner, loss_agg, micro, max_tokens, mini, filtered)
    metrics, old = _step(learner, *_inputs(filtered))
    weights = {k: full_tensor(v).detach().clone() for k, v in model.state_dict().items()}
    grads = {n: full_tensor(p.grad).clone() for n, p in model.named_parameters()}
    return metrics, old, weights, grads


def _sharded_steps(rank, world_size, settings):
    return [_sharded_step(rank, world_size, *setting) for setting in settings]


SETTINGS = {agg: (agg, 3, None, None) for agg in AGGREGATIONS}
# 2 epochs x 2 mini-batches of 8 rows, micro-batches packed under 40 padded tokens, rows 0-6 left out by
# the zero_advantage filter: the ranks' shares get different numbers of micro-batches (and rank 0
# sometimes none), so the ranks run zero-weighted passes to keep their collectives in step
SETTINGS["filtered"] = ("seq_mean_token_mean", 4, 40, 8, True)


@pytest.fixture(scope="module")
def two_ranks():
    """Every setting's sharded step, in one pair of processes (a spawn costs seconds of imports)."""
    ranks = run_ranks(_sharded_steps, 2, list(SETTINGS.values()))
    return {name: [r[i] for r in ranks] for i, name in enumerate(SETTINGS)}


@pytest.fixture(scope="module")
def one_process():
    """The one-process learner's step for each setting, computed once."""
    cache: dict[tuple, tuple] = {}

    def run(loss_agg, micro, max_tokens, mini, filtered=False):
        key = (loss_agg, micro, max_tokens, mini, filtered)
        if key not in cache:
            torch.manual_seed(0)
            model = build_tiny_model(TINY, build_tokenizer())
            learner = _learner(copy.deepcopy(model), Learner, *key)
            metrics, old = _step(learner, *_inputs(filtered))
            grads = {n: p.grad.clone() for n, p in learner.model.named_parameters()}
            cache[key] = metrics, old, learner.model.state_dict(), grads
        return cache[key]

    return run


def _assert_same(sharded, single):
    (m2, old2, w2, g2), (m1, old1, w1, g1) = sharded, single
    torch.testing.assert_close(old2, old1, rtol=0, atol=1e-6)
    keys = ("train/pg_loss", "train/kl_loss", "train/entropy", "train/grad_norm", "train/ratio_mean")
    keys += ("train/skipped_rows_frac", "train/skipped_updates")
    for key in (k for k in keys if k in m1):
        assert m2[key] == pytest.approx(m1[key], rel=0, abs=1e-6), key
    assert set(m2) == set(m1)
    for k in g1:
        torch.testing.assert_close(g2[k], g1[k], rtol=0, atol=1e-7, msg=k)
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=0, atol=1e-6, msg=k)


@pytest.mark.parametrize("loss_agg", AGGREGATIONS)
def test_two_ranks_take_the_same_step_as_one_process(two_ranks, one_process, loss_agg):
    # 16 rows -> 8 a rank; micro-batches of 3 rows: 3 on each rank (uneven last ones)
    single = one_process(*SETTINGS[loss_agg])
    assert two_ranks[loss_agg][0][0]["train/grad_norm"] > 0.1  # a real step
    for r in two_ranks[loss_agg]:
        _assert_same(r, single)


def test_two_ranks_with_epochs_mini_batches_a_token_budget_and_filtered_rows(two_ranks, one_process):
    single = one_process(*SETTINGS["filtered"])
    assert single[0]["train/skipped_rows_frac"] > 0.3
    for r in two_ranks["filtered"]:
        _assert_same(r, single)
