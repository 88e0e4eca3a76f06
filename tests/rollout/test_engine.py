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


def test_sample_categorical_follows_the_weights_and_never_draws_a_zero_weight():
    from rlvr.rollout.sampling import sample_categorical

    weights = torch.tensor([[0.2, 0.0, 0.5, 0.3]]).repeat(40_000, 1)  # unnormalised rows work alike
    draws = sample_categorical(3 * weights, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / draws.numel()
    assert freq[1] == 0
    assert torch.allclose(freq, weights[0], atol=0.01)


@pytest.mark.parametrize("texts", [["sort 31=", "x", "sort 98765="], ["sort 12=", "sort 34="]])
def test_decode_batch_compaction_and_shared_prefill_keep_exact_logprobs(engine, monkeypatch, texts):
    """Dropping finished rows from the decode batch (here after every finish) and prefilling each prompt
    once leave the behaviour log-probs equal to a full forward pass; padded prompts and unpadded ones
    (decoded without an attention mask)."""
    import rlvr.rollout.hf_engine as hf_engine

    monkeypatch.setattr(hf_engine, "COMPACT_BELOW", 1.0)
    engine = HFEngine(engine.model, engine.tokenizer, max_batch_size=16, seed=3)  # chunks split a group
    params = SamplingParams(n=6, max_new_tokens=8, temperature=1.5, stop=list("0123456789"))
    out = engine.generate(_prompts(engine, texts), params)
    lengths = {len(c.token_ids) for c in out}
    assert len(lengths) > 1, "some completions must finish before others"
    batch = collate(out, engine.tokenizer.pad_token_id)
    R = batch.response_width
    with torch.no_grad():
        logits = engine.model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids
        ).logits[:, -R - 1 : -1]
    recomputed = (logits / params.temperature).log_softmax(-1)
    recomputed = recomputed.gather(-1, batch.input_ids[:, -R:, None]).squeeze(-1)
    assert ((recomputed - batch.behaviour_logprobs) * batch.response_mask).abs().max() < 1e-4


def test_preallocated_cache_matches_concatenation():
    from transformers.cache_utils import DynamicLayer

    from rlvr.models.kv_cache import PreallocatedLayer

    torch.manual_seed(0)
    ref = DynamicLayer()
    ref.update(torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 6))
    layer = PreallocatedLayer.from_layer(ref, capacity=7, rows=torch.tensor([1, 0, 1]))
    ref.batch_select_indices(torch.tensor([1, 0, 1]))
    for _ in range(3):
        k, v = torch.randn(3, 3, 1, 5), torch.randn(3, 3, 1, 6)
        assert all(torch.equal(a, b) for a, b in zip(layer.update(k, v), ref.update(k, v), strict=True))
    assert layer.get_seq_length() == ref.get_seq_length() == 7
    layer.batch_select_indices(torch.tensor([2]))
    assert torch.equal(layer.keys, ref.keys[2:3])
    with pytest.raises(ValueError, match="KV cache full"):
        layer.update(torch.randn(1, 3, 1, 5), torch.randn(1, 3, 1, 6))


def test_the_hf_engine_is_a_rollout_engine(engine):
    from rlvr.rollout.engine import CompletionSampler, RolloutEngine, WeightLoadingEngine

    assert isinstance(engine, RolloutEngine) and isinstance(engine, CompletionSampler)
    assert not isinstance(engine, WeightLoadingEngine)  # it samples with the learner's own model object


def test_the_fast_decoder_steps_need_a_prefill_first(engine):
    from rlvr.rollout.decode_steps import FastSteps

    steps = FastSteps(engine.model)
    with pytest.raises(RuntimeError, match="before prefill"):
        steps.keep(torch.tensor([0]))


def test_a_chunks_decode_record_pads_past_each_rows_end_across_compactions():
    """``_Decoded`` writes the decode batch's tokens unmasked; the chunk's result has pad and 0 past each
    row's length, rows that left the batch included, and their lengths and stop flags."""
    from rlvr.rollout.hf_engine import _Decoded

    out = _Decoded(B=3, T=4, pad=0, device=torch.device("cpu"))
    out.write(0, torch.tensor([5, 6, 7]), torch.tensor([-0.5, -0.6, -0.7]))
    out.finish(0, torch.tensor([False, True, False]))  # row 1 ends at length 1
    out.write(1, torch.tensor([8, 9, 10]), torch.tensor([-0.8, -0.9, -1.0]))  # row 1's 9 is past its end
    out.finish(1, torch.tensor([False, False, True]))  # row 2 ends at length 2
    assert out.compact().tolist() == [0] and out.live.tolist() == [0]
    out.write(2, torch.tensor([11]), torch.tensor([-1.1]))
    out.finish(2, torch.tensor([False]))
    out.write(3, torch.tensor([12]), torch.tensor([-1.2]))
    tokens, logps, lengths, stopped = out.result()
    assert tokens.tolist() == [[5, 8, 11, 12], [6, 0, 0, 0], [7, 10, 0, 0]]
    assert torch.equal(logps[1], torch.tensor([-0.6, 0.0, 0.0, 0.0])) and logps[0, 3] == torch.tensor(-1.2)
    assert lengths.tolist() == [4, 1, 2] and stopped.tolist() == [False, True, True]
