"""The learner's choice of attention kernel on CPU, and SDPA's cuDNN backend on a GPU (``rlvr.models.attention``)."""

from __future__ import annotations

import pytest
import torch

from rlvr.models.attention import (
    EAGER_MAX_LEN,
    FLOAT32_MAX_LEN,
    FLOAT32_SDPA,
    HALF_EAGER_MAX_LEN,
    HALF_EAGER_MIN_HEAD_DIM,
    sdpa_in_float32,
    set_cudnn_attention,
    short_sequence_attention,
)
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer


@pytest.fixture(scope="module")
def model():
    """Heads of 32 (the quickstart's), narrower than ``HALF_EAGER_MIN_HEAD_DIM``."""
    return build_tiny_model(TinyModelConfig(max_positions=600), build_tokenizer())


@pytest.fixture(scope="module")
def wide():
    """Heads of ``HALF_EAGER_MIN_HEAD_DIM``."""
    heads = 128 // HALF_EAGER_MIN_HEAD_DIM
    return build_tiny_model(TinyModelConfig(max_positions=600, num_heads=heads), build_tokenizer())


def _inside(model, seq_len: int) -> str:
    with short_sequence_attention(model, seq_len):
        chosen = model.config._attn_implementation
    assert model.config._attn_implementation == "sdpa"  # restored
    return chosen


@pytest.mark.parametrize(
    ("heads", "dtype", "seq_len", "expected"),
    [
        ("narrow", torch.float32, EAGER_MAX_LEN, "eager"),
        ("narrow", torch.float32, EAGER_MAX_LEN + 1, "sdpa"),
        ("wide", torch.float32, EAGER_MAX_LEN + 1, "sdpa"),
        ("narrow", torch.bfloat16, EAGER_MAX_LEN, "eager"),
        ("narrow", torch.bfloat16, EAGER_MAX_LEN + 1, FLOAT32_SDPA),
        ("wide", torch.bfloat16, EAGER_MAX_LEN + 1, "eager"),
        ("wide", torch.bfloat16, HALF_EAGER_MAX_LEN, "eager"),
        ("wide", torch.float16, HALF_EAGER_MAX_LEN, "eager"),
        ("wide", torch.bfloat16, HALF_EAGER_MAX_LEN + 1, FLOAT32_SDPA),
        ("narrow", torch.bfloat16, FLOAT32_MAX_LEN, FLOAT32_SDPA),
        ("wide", torch.bfloat16, FLOAT32_MAX_LEN, FLOAT32_SDPA),
        ("wide", torch.bfloat16, FLOAT32_MAX_LEN + 1, "sdpa"),
        ("narrow", torch.float16, FLOAT32_MAX_LEN, FLOAT32_SDPA),
    ],
)
def test_kernel_by_dtype_length_and_head_width(model, wide, heads, dtype, seq_len, expected):
    chosen = wide if heads == "wide" else model
    assert _inside(chosen.to(dtype), seq_len) == expected


def test_checkpointed_models_keep_their_kernel(model):
    model = model.to(torch.bfloat16)
    model.gradient_checkpointing_enable()
    try:
        assert _inside(model, 100) == "sdpa"
    finally:
        model.gradient_checkpointing_disable()


def test_float32_sdpa_is_sdpa_on_float32_inputs_with_gradients():
    from types import SimpleNamespace

    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    gen = torch.Generator().manual_seed(0)
    module = SimpleNamespace(num_key_value_groups=2, is_causal=True)
    q = torch.randn(2, 4, 70, 16, generator=gen).bfloat16().requires_grad_()
    k = torch.randn(2, 2, 90, 16, generator=gen).bfloat16().requires_grad_()
    v = torch.randn(2, 2, 90, 16, generator=gen).bfloat16().requires_grad_()
    allowed = torch.ones(70, 90, dtype=torch.bool).tril(20)
    mask = torch.where(allowed, 0.0, torch.finfo(torch.bfloat16).min).bfloat16()[None, None]
    out, weights = sdpa_in_float32(module, q, k, v, mask, scaling=0.25)
    assert out.dtype == torch.bfloat16 and weights is None
    ref, _ = sdpa_attention_forward(module, q.float(), k.float(), v.float(), mask.float(), scaling=0.25)
    assert torch.equal(out, ref.bfloat16())
    out.float().sum().backward()
    assert q.grad is not None and q.grad.dtype == torch.bfloat16 and torch.isfinite(q.grad.float()).all()


# a half-precision model's passes: eager attention (wide heads), then SDPA on float32 copies
HALF_KERNELS = [(100, "eager"), (HALF_EAGER_MAX_LEN + 44, FLOAT32_SDPA)]


@pytest.mark.parametrize(("seq_len", "kernel"), HALF_KERNELS)
def test_a_bfloat16_model_gives_the_same_logits_to_its_rounding(wide, seq_len, kernel):
    model = wide.to(torch.bfloat16)
    ids = torch.randint(3, 20, (2, seq_len), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = model(input_ids=ids).logits.float()
        with short_sequence_attention(model, ids.size(1)):
            assert model.config._attn_implementation == kernel
            switched = model(input_ids=ids).logits.float()
    torch.testing.assert_close(switched, plain, rtol=0.05, atol=0.05)


@pytest.mark.parametrize(("seq_len", "kernel"), HALF_KERNELS)
def test_left_padded_keys_stay_masked(wide, seq_len, kernel):
    """A left-padded row gives the logits it gives unpadded under either kernel. (transformers builds no
    mask for an attention name without a mask function: the float32 kernel is registered with SDPA's.)"""
    model = wide.to(torch.bfloat16)
    pad = 10
    ids = torch.randint(3, 20, (1, seq_len - pad), generator=torch.Generator().manual_seed(0))
    padded = torch.cat([torch.zeros(1, pad, dtype=torch.long), ids], 1)
    mask = torch.cat([torch.zeros(1, pad, dtype=torch.long), torch.ones_like(ids)], 1)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad(), short_sequence_attention(model, padded.size(1)):
        assert model.config._attn_implementation == kernel
        alone = model(input_ids=ids).logits.float()
        with_pad = model(input_ids=padded, attention_mask=mask, position_ids=positions).logits.float()
    torch.testing.assert_close(with_pad[:, pad:], alone, rtol=0.02, atol=0.02)


@pytest.mark.parametrize(
    ("device", "enabled", "expected"),
    [("cpu", False, []), ("cpu", True, []), ("cuda", False, [False]), ("cuda:1", True, [True])],
)
def test_cudnn_attention_is_set_on_a_cuda_device_only(monkeypatch, device, enabled, expected):
    calls: list[bool] = []
    monkeypatch.setattr(torch.backends.cuda, "enable_cudnn_sdp", calls.append)
    set_cudnn_attention(enabled, torch.device(device))
    assert calls == expected


@pytest.mark.parametrize("cudnn_attention", [False, True])
def test_loading_a_model_applies_its_cudnn_setting_for_its_device(monkeypatch, cudnn_attention):
    import rlvr.models.load as load
    from rlvr.config import ModelConfig

    seen: list[tuple[bool, torch.device]] = []
    monkeypatch.setattr(load, "set_cudnn_attention", lambda enabled, device: seen.append((enabled, device)))
    cfg = ModelConfig(device="cpu", cudnn_attention=cudnn_attention)
    load.load_model(cfg, load.load_tokenizer(cfg))
    assert seen == [(cudnn_attention, torch.device("cpu"))]


def test_a_cpu_model_leaves_the_process_cudnn_flag_as_it_is():
    import rlvr.models.load as load
    from rlvr.config import ModelConfig

    before = torch.backends.cuda.cudnn_sdp_enabled()
    cfg = ModelConfig(device="cpu")  # cudnn_attention false by default
    load.load_model(cfg, load.load_tokenizer(cfg))
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
