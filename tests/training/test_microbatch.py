"""trainer.max_tokens_per_micro_batch: micro-batches packed by padded tokens give the same update."""

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
from rlvr.training.microbatch import micro_batches


def test_rows_are_packed_longest_first_under_the_budget():
    prompts = torch.tensor([2, 2, 4, 2, 2])
    responses = torch.tensor([1, 6, 4, 2, 3])  # totals 3, 8, 8, 4, 5
    groups = micro_batches(prompts, responses, max_rows=8, max_tokens=16)
    # rows 1 and 2 (8 each): 2 x (4 + 6) = 20 > 16, so row 1 alone; row 2 then row 4: 2 x (4 + 4) = 16;
    # row 3 would make 3 x 8 = 24; rows 3 and 0: 2 x (2 + 2) = 8
    assert [g.tolist() for g in groups] == [[1], [2, 4], [3, 0]]
    assert [g.tolist() for g in micro_batches(prompts, responses, max_rows=1, max_tokens=100)] == [
        [1], [2], [4], [3], [0]
    ]  # fmt: skip
    assert [g.tolist() for g in micro_batches(prompts, responses, max_rows=2)] == [[0, 1], [2, 3], [4]]
    assert micro_batches(torch.tensor([9]), torch.tensor([9]), max_rows=4, max_tokens=3)[0].tolist() == [0]


@pytest.fixture(scope="module")
def model():
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, max_positions=64)
    return build_tiny_model(cfg, build_tokenizer())


def _batch(seed: int = 0):
    """4 prompts of 2-9 tokens x 4 completions of 1-12 tokens: widely varying lengths."""
    rng = random.Random(seed)
    completions = []
    for i in range(4):
        prompt = [rng.randrange(4, 90) for _ in range(rng.randint(2, 9))]
        for k in range(4):
            tokens = [rng.randrange(4, 90) for _ in range(rng.randint(1, 12))]
            completions.append(Completion(i, tokens, [-1.0] * len(tokens), "", "stop", prompt, k))
    return collate(completions, pad_id=0)


def _learner(model, max_tokens=None, micro=64, **algo) -> Learner:
    trainer = TrainerConfig(
        micro_batch_size=micro, max_tokens_per_micro_batch=max_tokens, skip_zero_advantage=False
    )
    return Learner(
        copy.deepcopy(model), AlgorithmConfig(**algo), OptimConfig(lr=1e-2), trainer, 10, 0.8, norm_len=12
    )


@pytest.mark.parametrize(
    "loss_agg", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "seq_mean_token_sum_norm"]
)
def test_token_budget_gives_the_same_loss_gradient_and_metrics(model, loss_agg):
    batch = _batch()
    g = torch.Generator().manual_seed(0)
    adv = torch.randn(batch.size, 1, generator=g).expand(-1, batch.response_width).clone()
    ref = torch.randn(batch.size, batch.response_width, generator=g) - 3.0
    algo = {"loss_agg": loss_agg, "kl_coef": 0.05, "entropy_coef": 0.01}
    whole, packed = _learner(model, **algo), _learner(model, max_tokens=40, micro=5, **algo)
    assert len(packed._micro_batches(batch)) > 4  # really split, into uneven micro-batches
    mask = batch.response_mask  # log-probs past a row's response are not defined (padding)
    old = whole.logprobs(batch) * mask
    torch.testing.assert_close(packed.logprobs(batch) * mask, old, rtol=0, atol=1e-5)
    m_whole = whole.update(batch, adv, old, ref)
    m_packed = packed.update(batch, adv, old, ref)
    for key in ("train/pg_loss", "train/kl_loss", "train/entropy", "train/grad_norm"):
        assert m_packed[key] == pytest.approx(m_whole[key], rel=1e-4, abs=1e-6), key
    for a, b in zip(whole.model.parameters(), packed.model.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)


def test_dropping_prompt_padding_keeps_the_log_probs(model):
    batch = _batch()
    short = batch.select(batch.prompt_lengths().argsort()[:4])  # the shortest prompts, still at full width
    trimmed = short.drop_prompt_padding()
    assert trimmed.prompt_width == int(short.prompt_lengths().max()) < short.prompt_width
    learner = _learner(model)
    mask = short.response_mask
    torch.testing.assert_close(
        learner.logprobs(trimmed) * mask, learner.logprobs(short) * mask, rtol=0, atol=1e-6
    )


def test_an_allocation_failure_in_the_update_names_the_settings(model, monkeypatch):
    from rlvr.models.memory import OutOfMemory

    learner = _learner(model, max_tokens=64, micro=8)

    def fail(*_args, **_kw):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(learner, "_forward", fail)
    batch = _batch()
    adv = torch.ones(batch.size, batch.response_width)
    with pytest.raises(
        OutOfMemory,
        match=r"trainer.max_tokens_per_micro_batch \(now 64\) or trainer.micro_batch_size \(now 8\)",
    ):
        learner.update(batch, adv, None, None)
    with pytest.raises(OutOfMemory, match="log-prob pass"):
        learner.logprobs(batch)


def test_activation_checkpointing_gives_the_same_gradient(model):
    """model.gradient_checkpointing (activation checkpointing, the switch that trades compute for memory):
    the learner's update is the same, with the shared-prompt pass turned off by itself."""
    batch = _batch()
    adv = torch.randn(batch.size, 1, generator=torch.Generator().manual_seed(3)).expand(
        -1, batch.response_width
    )
    plain, ckpt = _learner(model, max_tokens=60), _learner(model, max_tokens=60)
    ckpt.model.gradient_checkpointing_enable()
    ckpt.model.config.use_cache = False
    m_plain, m_ckpt = (
        plain.update(batch, adv.clone(), None, None),
        ckpt.update(batch, adv.clone(), None, None),
    )
    assert m_ckpt["train/grad_norm"] == pytest.approx(m_plain["train/grad_norm"], rel=1e-4)
    for a, b in zip(plain.model.parameters(), ckpt.model.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)
