"""rlvr.models.packed_linear: bfloat16 projections packed once for oneDNN give F.linear's outputs bit for
bit, and only plain, hook-free bfloat16 linear layers are packed."""

import pytest
import torch

from rlvr.models.fast_decoder import FastDecoder
from rlvr.models.packed_linear import (
    PackedGatedMLP,
    PackedLinear,
    PackedSplit,
    Separate,
    joint_projection,
    mlp_projection,
    packable,
    projection,
)
from rlvr.rollout.decode_steps import positions_from_mask

from .test_fast_decoder import _left_padded, _model

needs_packing = pytest.mark.skipif(
    not packable(torch.nn.Linear(4, 4).to(torch.bfloat16)), reason="this CPU's oneDNN has no bfloat16 kernels"
)


@needs_packing
@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_a_packed_decoder_gives_the_same_logits_bit_for_bit(family):
    model = _model(family).to(torch.bfloat16)
    packed, plain = FastDecoder(model), FastDecoder(model, pack=False)
    assert isinstance(packed.layers[0].qkv, PackedSplit) and isinstance(packed.layers[0].mlp, PackedGatedMLP)
    assert isinstance(packed.lm_head, PackedLinear)
    assert plain.layers[0].qkv.parts[0] is model.model.layers[0].self_attn.q_proj
    ids, mask = _left_padded([[5, 6, 7, 8, 9], [11, 12], [13, 14, 15, 16, 17, 18, 19]])
    caches = [d.new_cache(3, ids.size(1) + 4) for d in (packed, plain)]
    outs = [d(ids, positions_from_mask(mask), c, mask) for d, c in zip((packed, plain), caches, strict=True)]
    assert torch.equal(outs[0], outs[1])
    tok, full = outs[0].argmax(-1), mask
    for _ in range(4):  # decode steps through the prefilled caches
        full = torch.cat([full, torch.ones_like(mask[:, :1])], 1)
        pos = positions_from_mask(full)[:, -1:]
        step = [d(tok[:, None], pos, c, full) for d, c in zip((packed, plain), caches, strict=True)]
        assert torch.equal(step[0], step[1])
        tok = step[0].argmax(-1)


# hidden, q / kv outputs, MLP width: the tiny, 30M, SmolLM-135M and Qwen2.5-0.5B shapes of the benchmarks
SHAPES = [(128, 128, 128, 384), (512, 512, 512, 1376), (576, 576, 192, 1536), (896, 896, 128, 4864)]


@needs_packing
@pytest.mark.parametrize(("hidden", "q_out", "kv_out", "mlp_out"), SHAPES)
@pytest.mark.parametrize("bias", [False, True])
def test_a_packed_split_gives_each_layers_own_output_bit_for_bit(hidden, q_out, kv_out, mlp_out, bias):
    torch.manual_seed(0)
    qkv = [torch.nn.Linear(hidden, n, bias=bias).to(torch.bfloat16) for n in (q_out, kv_out, kv_out)]
    gate_up = [torch.nn.Linear(hidden, mlp_out, bias=bias).to(torch.bfloat16) for _ in range(2)]
    for layers in (qkv, gate_up):
        split = joint_projection(layers)
        assert isinstance(split, PackedSplit)
        for rows in (1, 8, 37, 8 * 37):  # a decode step of 1 and 8 rows, prefills
            x = torch.randn(rows, hidden).to(torch.bfloat16)
            outs = split(x)
            assert len(outs) == len(layers)
            for out, layer in zip(outs, layers, strict=True):
                assert torch.equal(out, layer(x))


@needs_packing
def test_layers_that_cannot_share_one_matmul_are_called_separately():
    a, b = torch.nn.Linear(8, 4).to(torch.bfloat16), torch.nn.Linear(8, 4, bias=False).to(torch.bfloat16)
    mixed = joint_projection([a, b])  # one with a bias, one without
    assert isinstance(mixed, Separate) and all(isinstance(p, PackedLinear) for p in mixed.parts)
    assert isinstance(joint_projection([a, torch.nn.Linear(6, 4).to(torch.bfloat16)]), Separate)
    unpacked = joint_projection([a, a], pack=False)
    assert isinstance(unpacked, Separate) and unpacked.parts == (a, a)
    mlp = _model("llama").to(torch.bfloat16).model.layers[0].mlp
    assert isinstance(mlp_projection(mlp), PackedGatedMLP)
    mlp.up_proj.bias = torch.nn.Parameter(torch.zeros(mlp.up_proj.out_features, dtype=torch.bfloat16))
    assert mlp_projection(mlp) is mlp  # gate without a bias, up with one: not one matmul


@needs_packing
def test_hooked_lora_and_float32_layers_are_called_as_they_are():
    from peft import LoraConfig, get_peft_model

    linear = torch.nn.Linear(8, 8).to(torch.bfloat16)
    assert packable(linear)
    assert not packable(torch.nn.Linear(8, 8)) and projection(linear, pack=False) is linear
    handle = linear.register_forward_hook(lambda *a: None)
    assert not packable(linear) and projection(linear) is linear
    handle.remove()
    model = get_peft_model(_model("qwen2").to(torch.bfloat16), LoraConfig(r=4, target_modules=["q_proj"]))
    qkv = FastDecoder(model).layers[0].qkv
    assert isinstance(qkv, Separate)  # a LoRA q_proj is called as it is; k_proj and v_proj are packed
    assert not isinstance(qkv.parts[0], PackedLinear) and isinstance(qkv.parts[1], PackedLinear)


@needs_packing
def test_a_hook_on_the_lm_head_still_runs():
    model = _model("llama").to(torch.bfloat16)
    calls = []
    model.lm_head.register_forward_hook(lambda module, args, out: calls.append(out.shape))
    decoder = FastDecoder(model)
    decoder(torch.tensor([[5, 6]]), torch.tensor([[0, 1]]), decoder.new_cache(1, 2))
    assert decoder.lm_head is model.lm_head and calls == [torch.Size([1, 1, 100])]


@needs_packing
def test_the_engine_packs_a_long_chunk_once_and_samples_the_same(monkeypatch):
    from rlvr.models.tiny import build_tokenizer
    from rlvr.rollout import hf_engine
    from rlvr.rollout.decode_steps import FastSteps
    from rlvr.rollout.hf_engine import HFEngine
    from rlvr.rollout.types import SamplingParams

    tok = build_tokenizer()
    model = _model("llama", vocab=len(tok)).to(torch.bfloat16)
    prompts = [tok.encode(t, add_special_tokens=False) for t in ["sort 31=", "abc"]]
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=hf_engine.PACK_AFTER_STEPS + 4)
    packs: list[bool] = []
    pack = FastSteps.pack
    monkeypatch.setattr(FastSteps, "pack", lambda self: (packs.append(True), pack(self))[1])
    packed = HFEngine(model, tok, seed=3).generate(prompts, params)
    assert packs == [True] and max(len(c.token_ids) for c in packed) > hf_engine.PACK_AFTER_STEPS
    monkeypatch.setattr(hf_engine, "PACK_AFTER_STEPS", 10**9)
    plain = HFEngine(model, tok, seed=3).generate(prompts, params)
    assert packs == [True]  # the second engine never packed
    assert [c.token_ids for c in packed] == [c.token_ids for c in plain]
    assert [c.logprobs for c in packed] == [c.logprobs for c in plain]
