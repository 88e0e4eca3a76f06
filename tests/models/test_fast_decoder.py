"""rlvr.models.fast_decoder against the models' own forward, for each family it runs, and the hf engine
with and without it."""

import logging

import pytest
import torch

from rlvr.models.fast_decoder import FastDecoder, LeanRMSNorm, kv_dtype, unsupported
from rlvr.models.tiny import build_tokenizer
from rlvr.rollout.decode_steps import positions_from_mask
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.types import SamplingParams

SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, max_position_embeddings=64)


def _model(family: str, vocab: int = 100, **extra):
    """A random tiny model of ``family`` (GQA, biases, q/k norms and RoPE scaling where the family has them)."""
    import transformers as tf

    torch.manual_seed(0)
    if family == "llama":  # GQA and llama3 RoPE scaling
        rope = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 16}  # fmt: skip
        config = tf.LlamaConfig(num_attention_heads=4, num_key_value_heads=2, rope_parameters=rope, **SMALL)
        model = tf.LlamaForCausalLM(config)
    elif family == "mistral":
        config = tf.MistralConfig(num_attention_heads=4, num_key_value_heads=1, sliding_window=None, **SMALL)
        model = tf.MistralForCausalLM(config)
    elif family == "qwen2":  # q/k/v biases
        config = tf.Qwen2Config(num_attention_heads=4, num_key_value_heads=2, **SMALL)
        model = tf.Qwen2ForCausalLM(config)
    else:  # qwen3: per-head q/k norms, head_dim not hidden / heads
        config = tf.Qwen3Config(num_attention_heads=4, num_key_value_heads=2, head_dim=16, **SMALL)
        model = tf.Qwen3ForCausalLM(config)
    model.resize_token_embeddings(vocab)
    for name, p in model.named_parameters():  # biases and norms away from their 0 / 1 initialisation
        if "bias" in name or "norm" in name:
            torch.nn.init.normal_(p, mean=float("norm" in name), std=0.1)
    return model.eval()


def _left_padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :], mask[i, width - len(r) :] = torch.tensor(r), 1
    return ids, mask


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "qwen3"])
def test_prefill_and_decode_logits_equal_the_models_own_forward(family):
    _assert_logits_equal_the_forward(_model(family), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "qwen3"])
def test_a_bfloat16_model_keeps_its_kv_cache_and_attends_in_float32_on_the_cpu(family):
    """Its logits are those of transformers' forward with attention on float32 copies of the bfloat16
    queries, keys and values (the learner's ``rlvr_sdpa_float32``), bit for bit."""
    from rlvr.models.attention import _register_float32_sdpa

    model = _model(family).to(torch.bfloat16)
    assert kv_dtype(model) == torch.float32
    assert FastDecoder(model).new_cache(2, 4).keys[0].dtype == torch.float32
    model.set_attn_implementation(_register_float32_sdpa())
    _assert_logits_equal_the_forward(model, atol=0.0, rtol=0.0)


def _assert_logits_equal_the_forward(model, atol: float, rtol: float) -> None:
    ids, mask = _left_padded([[5, 6, 7, 8, 9], [11, 12], [13, 14, 15, 16, 17, 18, 19]])
    steps = torch.randint(3, 100, (3, 4), generator=torch.Generator().manual_seed(1))
    decoder = FastDecoder(model)
    cache = decoder.new_cache(3, ids.size(1) + steps.size(1))
    fast = [decoder(ids, positions_from_mask(mask), cache, mask)]
    full_ids, full_mask = ids, mask
    for t in range(steps.size(1)):
        full_ids = torch.cat([full_ids, steps[:, t : t + 1]], 1)
        full_mask = torch.cat([full_mask, torch.ones_like(mask[:, :1])], 1)
        fast.append(decoder(steps[:, t : t + 1], positions_from_mask(full_mask)[:, -1:], cache, full_mask))
    with torch.no_grad():
        out = model(
            input_ids=full_ids, attention_mask=full_mask, position_ids=positions_from_mask(full_mask)
        ).logits
    for t, logits in enumerate(fast):  # position of the prompt's last token, then one per decoded token
        expected = out[:, ids.size(1) - 1 + t, :]
        torch.testing.assert_close(logits, expected, atol=atol, rtol=rtol)


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "qwen3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_the_lean_norms_give_the_models_own_bit_for_bit(family, dtype):
    """Each layer's two norms, qwen3's q / k norms and the final norm are ``LeanRMSNorm``s that give their
    module's output bit for bit (1-300 rows, values of scale 0.01-100), also after the weights change in
    place (an optimizer step)."""
    model = _model(family).to(dtype)
    decoder = FastDecoder(model)
    lean, own = decoder.layers[1], model.model.layers[1]
    pairs = [(lean.input_norm, own.input_layernorm), (lean.post_norm, own.post_attention_layernorm)]
    pairs.append((decoder.final_norm, model.model.norm))
    if family == "qwen3":
        pairs += [(lean.q_norm, own.self_attn.q_norm), (lean.k_norm, own.self_attn.k_norm)]
    g = torch.Generator().manual_seed(0)
    for norm, module in pairs:
        assert isinstance(norm, LeanRMSNorm)
        for rows, scale in ((1, 1.0), (8, 0.01), (300, 100.0)):
            x = (torch.randn(rows, 1, module.weight.numel(), generator=g) * scale).to(dtype)
            with torch.no_grad():
                assert torch.equal(norm(x), module(x))
                module.weight.mul_(1.5)
                assert torch.equal(norm(x), module(x))


def test_norms_off_the_cpu_and_other_kinds_of_norm_are_called_as_they_are():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    from rlvr.models.fast_decoder import rms_norm

    assert isinstance(rms_norm(LlamaRMSNorm(8)), LeanRMSNorm)
    off_cpu = LlamaRMSNorm(8).to("meta")
    layer_norm = torch.nn.LayerNorm(8)
    assert rms_norm(off_cpu) is off_cpu and rms_norm(layer_norm) is layer_norm


def test_a_hooked_norm_is_called_as_it_is():
    model = _model("llama")
    hooked = model.model.layers[0].input_layernorm
    calls = []
    hooked.register_forward_hook(lambda *args: calls.append(args[2].shape))
    decoder = FastDecoder(model)
    assert decoder.layers[0].input_norm is hooked and isinstance(decoder.layers[0].post_norm, LeanRMSNorm)
    decoder(torch.tensor([[5, 6]]), torch.tensor([[0, 1]]), decoder.new_cache(1, 2))
    assert calls == [torch.Size([1, 2, 32])]


@pytest.mark.parametrize("family", ["llama", "qwen3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_rope_table_rows_are_the_rotary_embedding_of_their_positions(family, dtype):
    """Bit for bit, for batches of any size and positions anywhere in the table (llama: llama3 scaling)."""
    decoder = FastDecoder(_model(family).to(dtype))
    g = torch.Generator().manual_seed(0)
    for capacity in (1, 17, 160, 4099):
        cos_table, sin_table = decoder.rope_table(capacity)
        assert cos_table.shape == (capacity, 1, 1, decoder.head_dim) and cos_table.dtype == dtype
        for rows in (1, 3, 8, 64):
            positions = torch.randint(0, capacity, (rows,), generator=g)
            cos, sin = decoder._rope(positions[:, None], dtype)
            assert torch.equal(cos_table[positions], cos) and torch.equal(sin_table[positions], sin)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_engines_decode_steps_give_the_decoders_own_logits(dtype):
    """``FastSteps`` (the rotary table and the key mask made once at prefill, sliced each step, rows
    dropped mid-decode) against the decoder called with each step's positions and key mask: equal."""
    from rlvr.rollout.decode_steps import FastSteps

    model = _model("llama").to(dtype)
    prompts, prompt_mask = _left_padded([[5, 6, 7, 8, 9], [11, 12], [13, 14, 15]])
    owner = torch.tensor([0, 0, 1, 2, 2])
    T = 6
    steps = FastSteps(model)
    decoder = FastDecoder(model)
    cache = decoder.new_cache(3, prompts.size(1) + T)
    expected = decoder(prompts, positions_from_mask(prompt_mask), cache, prompt_mask)[owner]
    cache.select(owner)
    logits = steps.prefill(prompts, positions_from_mask(prompt_mask), prompt_mask, owner, prompts.size(1) + T)
    assert torch.equal(logits, expected)
    key_mask = prompt_mask[owner]
    next_pos = prompt_mask.sum(-1)[owner]
    tokens = torch.tensor([3, 4, 5, 6, 7])
    for t in range(T - 1):
        if t == 2:  # drop rows 1 and 3 from the decode batch
            keep = torch.tensor([0, 2, 4])
            steps.keep(keep)
            cache.select(keep)
            key_mask, next_pos, tokens = key_mask[keep], next_pos[keep], tokens[keep]
        key_mask = torch.cat([key_mask, torch.ones_like(key_mask[:, :1])], 1)
        got = steps.decode(tokens, next_pos + t)
        want = decoder(tokens[:, None], (next_pos + t)[:, None], cache, key_mask)
        assert torch.equal(got, want), t
        tokens = got.argmax(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("masked", [False, True])
def test_a_decode_step_folds_the_query_heads_of_each_kv_head_into_its_rows(dtype, masked):
    """One query position, 4 query heads on 2 KV heads: the folded call gives each head the attention of
    its own KV head over the unmasked keys, as repeating the keys per query head does."""
    decoder = FastDecoder(_model("llama"))
    g = torch.Generator().manual_seed(0)
    B, S, D = 3, 9, decoder.head_dim
    q = torch.randn(B, decoder.heads, 1, D, generator=g).to(dtype)
    k, v = (torch.randn(B, decoder.kv_heads, S, D, generator=g).to(dtype) for _ in range(2))
    key_mask = torch.ones(B, S, dtype=torch.long)
    key_mask[0, :4] = key_mask[2, :1] = 0  # left padding
    mask = decoder._mask(key_mask if masked else None, S - 1, 1, B, q)
    out = decoder._attention(q, k, v, mask)
    groups = decoder.heads // decoder.kv_heads
    expected = torch.nn.functional.scaled_dot_product_attention(
        q.float(), k.float().repeat_interleave(groups, 1), v.float().repeat_interleave(groups, 1),
        attn_mask=None if mask is None else mask.float(), scale=decoder.scaling,
    )  # fmt: skip
    assert out.shape == (B, decoder.heads, 1, D) and out.dtype == dtype
    torch.testing.assert_close(
        out.float(), expected, **({} if dtype == torch.float32 else dict(atol=1e-2, rtol=1e-2))
    )
    if masked:  # row 0 never sees its 4 padded keys: changing them changes nothing
        k[0, :, :4] = v[0, :, :4] = 100.0
        assert torch.equal(decoder._attention(q, k, v, mask)[0], out[0])


def test_lora_adapters_are_part_of_the_fast_forward():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(_model("qwen2"), LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"]))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)  # peft starts B at 0: make the adapters matter
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    decoder = FastDecoder(model)
    logits = decoder(ids, positions_from_mask(torch.ones_like(ids)), decoder.new_cache(2, 4))
    with torch.no_grad():
        expected = model(input_ids=ids).logits[:, -1, :]
        with model.disable_adapter():
            base = model(input_ids=ids).logits[:, -1, :]
    torch.testing.assert_close(logits, expected, atol=2e-5, rtol=1e-4)
    assert not torch.allclose(logits, base, atol=1e-3)


@pytest.mark.parametrize("family", ["llama", "qwen3"])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_engine_samples_the_same_with_and_without_the_fast_decoder(family, temperature):
    """Same seeds, same tokens and log-probs: left-padded prompts, stop strings, rows dropped mid-decode."""
    tok = build_tokenizer()
    model = _model(family, vocab=len(tok))
    prompts = [tok.encode(t, add_special_tokens=False) for t in ["sort 31=", "a", "sort 98765=", "xy"]]
    params = SamplingParams(n=3, temperature=temperature, max_new_tokens=12, stop=["5"])
    fast = HFEngine(model, tok, max_batch_size=7, seed=3, fast_decoder=True).generate(prompts, params)
    slow = HFEngine(model, tok, max_batch_size=7, seed=3, fast_decoder=False).generate(prompts, params)
    assert [c.token_ids for c in fast] == [c.token_ids for c in slow]
    assert {c.finish_reason for c in fast} == {"stop", "length"} or temperature == 0.0
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=0)


def test_unsupported_models_and_windows_are_named_and_fall_back(caplog):
    import transformers as tf

    gpt2 = tf.GPT2LMHeadModel(
        tf.GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=100, bos_token_id=0, eos_token_id=0)
    )
    assert "model_type 'gpt2'" in unsupported(gpt2, 10)
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        FastDecoder(gpt2)
    windowed = _model("mistral")
    windowed.config.sliding_window = 8
    assert unsupported(windowed, 8) is None
    assert "sliding window 8 is shorter than the sequence (20 positions)" in unsupported(windowed, 20)

    tok = build_tokenizer()
    engine = HFEngine(windowed, tok, seed=0)
    windowed.resize_token_embeddings(len(tok))
    prompt = tok.encode("sort 31=", add_special_tokens=False)
    with caplog.at_level(logging.INFO, logger="rlvr.rollout.hf_engine"):
        out = engine.generate([prompt], SamplingParams(n=1, max_new_tokens=16))
    assert "not the fast decoder: sliding window 8" in caplog.text
    assert len(out) == 1 and 1 <= len(out[0].token_ids) <= 16
