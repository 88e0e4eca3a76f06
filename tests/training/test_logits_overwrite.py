"""The learner's backward writes the logits' gradient over its logits (``token_logprobs(...,
overwrite_logits=True)``): the update is bit for bit the one without it."""

import pytest
import torch

import rlvr.algorithms.logprobs as logprobs
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer

from .test_skip_zero_advantage import _advantages, _batch, _learner


@pytest.fixture(scope="module")
def tiny():
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, max_positions=64)
    return build_tiny_model(cfg, build_tokenizer())


@pytest.mark.parametrize("micro_batch_size", [64, 3])
def test_the_update_is_bit_for_bit_the_one_with_a_separate_logits_gradient(
    tiny, monkeypatch, micro_batch_size
):
    batch = _batch()
    adv = _advantages(batch, zero_groups=set())
    grads, overwritten = {}, {}
    real = logprobs._overwritable  # the spy below replaces it
    for overwrite in (True, False):
        calls: list[bool] = []
        check = real if overwrite else (lambda logits: False)
        monkeypatch.setattr(
            logprobs, "_overwritable", lambda x, c=check, seen=calls: seen.append(c(x)) or seen[-1]
        )
        learner = _learner(tiny, skip=True, micro_batch_size=micro_batch_size)
        learner.update(batch, adv, None, None)
        grads[overwrite] = [p.grad.clone() for p in learner.model.parameters()]
        overwritten[overwrite] = any(calls)
    assert overwritten == {True: True, False: False}
    assert all(torch.equal(a, b) for a, b in zip(grads[True], grads[False], strict=True))
