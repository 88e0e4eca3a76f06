import pytest
import torch

from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.sampling import filter_logits, sample_next
from rlvr.rollout.types import SamplingParams
from rlvr.training.batch import collate


@pytest.fixture(scope="module")
def engine():
    tok = build_tokenizer()
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2), tok
    )
    return HFEngine(model, tok, max_batch_size=5, seed=0)


def _prompts(engine, texts):
    return [engine.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def test_groups_of_n_in_prompt_order(engine):
    out = engine.generate(
        _prompts(engine, ["sort 31=", "a", "sort 98765="]), SamplingParams(n=3, max_new_tokens=4)
    )
    assert [c.prompt_index for c in out] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for c in out:
        assert len(c.token_ids) == len(c.logprobs) <= 4
        assert c.finish_reason in {"stop", "length"}
        assert (c.finish_reason == "length") == (
            len(c.token_ids) == 4 and engine.tokenizer.eos_token_id not in c.token_ids
        )


def test_behaviour_logprobs_match_a_full_forward_pass(engine):
    """Logprobs from the KV-cached, left-padded decode equal the learner's recomputation."""
    params = SamplingParams(n=2, max_new_tokens=6, temperature=0.7)
    out = engine.generate(_prompts(engine, ["sort 31=", "sort 98765=", "x"]), params)
    batch = collate(out, engine.tokenizer.pad_token_id)
    R = batch.response_width
    with torch.no_grad():
        logits = (
            engine.model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
            ).logits[:, -R - 1 : -1]
            / params.temperature
        )
    recomputed = logits.log_softmax(-1).gather(-1, batch.input_ids[:, -R:, None]).squeeze(-1)
    gap = ((recomputed - batch.behaviour_logprobs) * batch.response_mask).abs().max()
    assert gap < 1e-4


def test_stop_strings_end_a_completion(engine):
    params = SamplingParams(n=16, max_new_tokens=12, stop=["1", "2", "3"], temperature=1.5)
    out = engine.generate(_prompts(engine, ["sort 31="]), params)
    stopped = [
        c for c in out if c.finish_reason == "stop" and engine.tokenizer.eos_token_id not in c.token_ids
    ]
    assert stopped, "with three common stop strings some completions must stop on one"
    for c in stopped:
        assert c.text[-1] in "123" and not any(s in c.text[:-1] for s in "123")


def test_greedy_is_deterministic_and_top_k_1_is_greedy(engine):
    prompts = _prompts(engine, ["sort 31=", "sort 4="])
    greedy = engine.generate(prompts, SamplingParams(n=1, temperature=0, max_new_tokens=5))
    again = engine.generate(prompts, SamplingParams(n=1, temperature=0, max_new_tokens=5))
    top1 = engine.generate(prompts, SamplingParams(n=1, temperature=1.0, top_k=1, max_new_tokens=5))
    assert [c.token_ids for c in greedy] == [c.token_ids for c in again] == [c.token_ids for c in top1]


def test_seeded_sampling_is_reproducible():
    tok = build_tokenizer()
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2), tok
    )
    runs = []
    for _ in range(2):
        engine = HFEngine(model, tok, seed=7)
        out = engine.generate(
            [tok("ab", add_special_tokens=False)["input_ids"]], SamplingParams(n=4, max_new_tokens=5)
        )
        runs.append([c.token_ids for c in out])
    assert runs[0] == runs[1]


def test_filter_logits_top_k_and_top_p_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    # cumulative mass before each token: 0, .5, .8, .95 -> top_p=0.8 keeps the first two
    assert torch.isinf(filter_logits(logits, top_p=0.8)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.81)).tolist() == [[False, False, False, True]]


def test_sample_next_logprob_is_the_temperature_scaled_one():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    tokens, logp = sample_next(logits, temperature=0.5, generator=torch.Generator().manual_seed(0))
    expected = (logits / 0.5).log_softmax(-1)[0, tokens[0]]
    assert torch.allclose(logp[0], expected)
