"""The learner's fast forward paths against the plain one: a shared prompt prefix (run once per distinct
prompt), passes trimmed to their longest response, and the vectorised collate."""

import copy
import random

import pytest
import torch
from torch import Tensor

from rlvr.algorithms import AlgorithmConfig
from rlvr.algorithms.entropy import entropy_from_logits, logprobs_from_logits
from rlvr.config import OptimConfig, TrainerConfig
from rlvr.models.prefix import SharedPrefix, distinct_rows, shares_prefixes
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.types import Completion
from rlvr.training.batch import TokenBatch, collate, length_buckets
from rlvr.training.learner import Learner


@pytest.fixture(scope="module")
def tiny():
    tok = build_tokenizer()
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, max_positions=64)
    return build_tiny_model(cfg, tok), tok


def _completions(n_prompts: int = 3, n: int = 4, seed: int = 0) -> list[Completion]:
    """Groups of n completions sharing a prompt; prompts of different lengths, responses of 0..9 tokens."""
    rng = random.Random(seed)
    out = []
    for i in range(n_prompts):
        prompt = [rng.randrange(4, 90) for _ in range(rng.choice([3, 6, 9]))]
        for k in range(n):
            tokens = [rng.randrange(4, 90) for _ in range(rng.choice([0, 2, 3, 3, 3, 9]))]
            logprobs = [-rng.random() for _ in tokens]
            out.append(Completion(i, tokens, logprobs, "", "stop", prompt_ids=prompt, sample_index=k))
    return out


def _plain_forward(self, model, mb: TokenBatch, with_entropy: bool):
    """The learner's forward before the fast paths: one pass over every row at the full width."""
    R = mb.response_width
    logits = model(
        input_ids=mb.input_ids,
        attention_mask=mb.attention_mask,
        position_ids=mb.position_ids,
        use_cache=False,
        logits_to_keep=R + 1,
    ).logits
    logits = logits[:, :-1, :] / self.temperature
    entropy = entropy_from_logits(logits) if with_entropy else None
    return logprobs_from_logits(logits, mb.input_ids[:, -R:]), entropy


def _forward_shared_prefix(
    model: torch.nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    position_ids: Tensor,
    prefix_width: int,
    logits_to_keep: int,
) -> Tensor:
    """``SharedPrefix`` over a whole batch: logits of the last ``logits_to_keep`` positions, the first ``prefix_width``
    columns run once per distinct prefix (one plain pass when that gains nothing). (B, T) -> (B, k, V)."""
    B, T = input_ids.shape
    prefix = None
    if logits_to_keep <= T - prefix_width:
        prefix = SharedPrefix.build(model, input_ids, attention_mask, position_ids, prefix_width)
    if prefix is None:
        return model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
            logits_to_keep=logits_to_keep,
        ).logits
    return prefix.logits(torch.arange(B), input_ids, attention_mask, position_ids, logits_to_keep)


def _learner(model, micro_batch_size: int = 64) -> Learner:
    trainer = TrainerConfig(micro_batch_size=micro_batch_size)
    return Learner(model, AlgorithmConfig(), OptimConfig(lr=1e-2), trainer, 10, temperature=0.7, norm_len=9)


def test_collate_matches_a_row_by_row_loop():
    comps = _completions()
    batch = collate(comps, pad_id=0)
    P, R = batch.prompt_width, batch.response_width
    assert (max(len(c.prompt_ids) for c in comps), max(len(c.token_ids) for c in comps)) == (P, R)
    for row, c in enumerate(comps):
        p, r = len(c.prompt_ids), len(c.token_ids)
        assert batch.input_ids[row, P - p : P].tolist() == c.prompt_ids
        assert batch.input_ids[row, P : P + r].tolist() == c.token_ids
        assert batch.attention_mask[row].tolist() == [0] * (P - p) + [1] * (p + r) + [0] * (R - r)
        assert batch.response_mask[row].tolist() == [1.0] * r + [0.0] * (R - r)
        assert torch.allclose(batch.behaviour_logprobs[row, :r], torch.tensor(c.logprobs))
        assert batch.position_ids[row, P - p : P + r].tolist() == list(range(p + r))


def test_distinct_rows_groups_in_order_of_first_appearance():
    x = torch.tensor([[5, 1], [2, 2], [5, 1], [0, 9], [2, 2]])
    first, inverse = distinct_rows(x)
    assert first.tolist() == [0, 1, 3]
    assert inverse.tolist() == [0, 1, 0, 2, 1]
    assert torch.equal(x[first][inverse], x)


def test_length_buckets_split_a_long_tail_only_when_it_pays():
    tail = torch.tensor([3] * 14 + [9, 2])  # one pass: 16 * 10 = 160 positions; split: 15 * 4 + 1 * 10 = 70
    buckets = length_buckets(tail)
    assert [sorted(b.tolist()) for b in buckets] == [sorted([*range(14), 15]), [14]]
    assert len(length_buckets(torch.tensor([3, 4, 4, 4]))) == 1  # splitting saves 1 of 20 positions
    assert len(length_buckets(torch.tensor([7]))) == 1


def test_shared_prefix_forward_equals_one_plain_pass_with_gradients(tiny):
    model, _ = tiny
    model.train()
    b = collate(_completions(), pad_id=0)
    P, R = b.prompt_width, b.response_width
    inputs = (b.input_ids, b.attention_mask, b.position_ids)
    plain = model(*inputs[:1], attention_mask=inputs[1], position_ids=inputs[2], logits_to_keep=R + 1).logits
    shared = _forward_shared_prefix(model, *inputs, prefix_width=P - 1, logits_to_keep=R + 1)
    mask = b.attention_mask[:, -R - 1 :, None].bool()  # padding positions differ (they see other keys)
    assert torch.allclose(plain * mask, shared * mask, atol=1e-5)
    params = list(model.parameters())
    g_plain = torch.autograd.grad((plain * mask).logsumexp(-1).sum(), params)
    g_shared = torch.autograd.grad((shared * mask).logsumexp(-1).sum(), params)
    for a, s in zip(g_plain, g_shared, strict=True):
        assert torch.allclose(a, s, atol=1e-5, rtol=1e-4)


def test_activation_checkpointing_falls_back_to_one_plain_pass(tiny):
    model, _ = tiny
    model = copy.deepcopy(model)
    model.gradient_checkpointing_enable()
    assert not shares_prefixes(model)


def test_learner_logprobs_and_update_match_the_plain_forward(tiny):
    model, _ = tiny
    batch = collate(_completions(n_prompts=4, n=6), pad_id=0)
    adv = torch.randn(batch.size, 1).expand(-1, batch.response_width).contiguous()
    fast, plain = _learner(copy.deepcopy(model)), _learner(copy.deepcopy(model))
    plain._forward = _plain_forward.__get__(plain)
    mask = batch.response_mask.bool()
    assert torch.allclose(fast.logprobs(batch)[mask], plain.logprobs(batch)[mask], atol=1e-5)
    m_fast = fast.update(batch, adv, None, None)
    m_plain = plain.update(batch, adv, None, None)
    for k in ("train/pg_loss", "train/entropy", "train/grad_norm"):
        assert m_fast[k] == pytest.approx(m_plain[k], rel=1e-4, abs=1e-6), k
    for a, p in zip(fast.model.parameters(), plain.model.parameters(), strict=True):
        assert torch.allclose(a, p, atol=1e-5)
    assert not all(
        torch.equal(a, p) for a, p in zip(fast.model.parameters(), model.parameters(), strict=True)
    )


def test_micro_batches_of_unshared_rows_give_the_same_update(tiny):
    """Micro-batches of 5 rows cut groups apart (some rows share no prompt): same weights as one pass."""
    model, _ = tiny
    batch = collate(_completions(n_prompts=3, n=4, seed=1), pad_id=0)
    adv = torch.randn(batch.size, 1).expand(-1, batch.response_width).contiguous()
    small, whole = _learner(copy.deepcopy(model), micro_batch_size=5), _learner(copy.deepcopy(model))
    whole._forward = _plain_forward.__get__(whole)
    small.update(batch, adv, None, None)
    whole.update(batch, adv, None, None)
    for a, p in zip(small.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.allclose(a, p, atol=1e-5)


def test_the_shared_prefix_setting_resolves_by_device():
    """``trainer.shared_prefix`` None: on a CPU (arithmetic-bound), off on an accelerator (launch-bound)."""
    from rlvr.training.learner import shares_prompts

    assert shares_prompts(None, torch.device("cpu")) and not shares_prompts(None, torch.device("cuda"))
    assert shares_prompts(True, torch.device("cuda")) and not shares_prompts(False, torch.device("cpu"))


def test_one_pass_a_micro_batch_gives_the_shared_prefix_update_in_one_model_call(tiny):
    """``trainer.shared_prefix=false``: one model call a micro-batch (a prompt pass and up to two response
    passes otherwise), the same log-probs, loss and weights."""
    model, _ = tiny
    batch = collate(_completions(n_prompts=4, n=6, seed=2), pad_id=0)
    adv = torch.randn(batch.size, 1).expand(-1, batch.response_width).contiguous()
    learners = {
        shared: Learner(
            copy.deepcopy(model), AlgorithmConfig(), OptimConfig(lr=1e-2),
            TrainerConfig(micro_batch_size=8, shared_prefix=shared), 10, temperature=0.7, norm_len=9,
        )
        for shared in (True, False)
    }  # fmt: skip
    calls, metrics = {}, {}
    for shared, learner in learners.items():
        count = [0]
        hook = learner.model.register_forward_pre_hook(
            lambda *_, count=count: count.__setitem__(0, count[0] + 1)
        )
        metrics[shared] = learner.update(batch, adv, None, None)
        hook.remove()
        calls[shared] = count[0]
    assert learners[False].one_pass and not learners[True].one_pass
    assert calls[False] == 3 and calls[True] > 3  # 24 rows in micro-batches of 8
    for k in ("train/pg_loss", "train/entropy", "train/grad_norm"):
        assert metrics[True][k] == pytest.approx(metrics[False][k], rel=1e-4, abs=1e-6), k
    for a, b in zip(learners[True].model.parameters(), learners[False].model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
