"""rollout.max_kv_cache_bytes splits generation into chunks whose KV cache fits; OOM errors name settings."""

import pytest
import torch

from rlvr.models.memory import OutOfMemory, kv_cache_bytes_per_token
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.types import SamplingParams


@pytest.fixture(scope="module")
def parts():
    tok = build_tokenizer()
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2), tok
    )
    return model, tok


def test_kv_bytes_per_token_of_the_tiny_model(parts):
    model, _ = parts
    # keys and values x 2 layers x 2 KV heads x head_dim 16 x 4 bytes (float32)
    assert kv_cache_bytes_per_token(model) == 2 * 2 * 2 * 16 * 4 == 512


def test_a_budget_for_two_sequences_decodes_two_at_a_time(parts):
    model, tok = parts
    prompts = [tok("sort 31=")["input_ids"], tok("ab")["input_ids"]]  # longest: 8 tokens
    per_seq = 512 * (8 + 4)
    engine = HFEngine(model, tok, max_batch_size=5, max_kv_cache_bytes=2 * per_seq + 100)
    chunks = list(engine.generate_iter(prompts, SamplingParams(n=3, max_new_tokens=4)))
    assert [len(c) for c in chunks] == [2, 2, 2]
    assert [c.prompt_index for chunk in chunks for c in chunk] == [0, 0, 0, 1, 1, 1]
    assert HFEngine(model, tok, max_batch_size=5).chunk_size(8, 4) == 5


def test_the_budget_counts_the_float32_cache_the_fast_decoder_keeps_for_a_bfloat16_model_on_the_cpu(parts):
    _, tok = parts
    half = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2), tok
    ).to(torch.bfloat16)
    assert kv_cache_bytes_per_token(half) == 256 and kv_cache_bytes_per_token(half, torch.float32) == 512
    budget = 2 * 512 * (8 + 4) + 100  # two sequences of 12 positions at 4 bytes a value
    assert HFEngine(half, tok, max_kv_cache_bytes=budget).chunk_size(8, 4) == 2
    assert HFEngine(half, tok, max_kv_cache_bytes=budget, fast_decoder=False).chunk_size(8, 4) == 4


def test_a_budget_below_one_sequence_names_the_setting(parts):
    model, tok = parts
    engine = HFEngine(model, tok, max_kv_cache_bytes=1000)
    with pytest.raises(OutOfMemory, match="rollout.max_kv_cache_bytes=1000"):
        engine.generate([tok("sort 31=")["input_ids"]], SamplingParams(n=1, max_new_tokens=4))


def test_an_allocation_failure_while_generating_names_the_settings(parts, monkeypatch):
    model, tok = parts
    engine = HFEngine(model, tok, max_batch_size=7)

    def fail(*_args, **_kw):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(engine, "_generate_chunk", fail)
    with pytest.raises(
        OutOfMemory, match=r"rollout.max_kv_cache_bytes \(now None\) or rollout.max_batch_size \(now 7\)"
    ):
        engine.generate([tok("ab")["input_ids"]], SamplingParams(n=1, max_new_tokens=4))
