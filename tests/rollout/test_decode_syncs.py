"""The hf engine's decode loop reads the device only every few steps; that changes no sample.

Each chunk row draws its uniforms from ``RowUniforms`` (all rows every step), so a row's tokens depend
on the seed, its row and the step only: not on when finished rows are dropped from the decode batch,
nor on how often the host looks at which rows finished, nor on steps run after the last finish.
"""

import pytest
import torch

import rlvr.rollout.hf_engine as hf_engine
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.sampling import RowUniforms
from rlvr.rollout.types import SamplingParams

TEXTS = ["sort 31=", "x", "sort 98765="]


@pytest.fixture(scope="module")
def model_and_tok():
    tok = build_tokenizer()
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2), tok
    )
    return model.eval(), tok


def _generate(model, tok, params, seed=3, **kw):
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    return HFEngine(model, tok, max_batch_size=32, seed=seed, **kw).generate(prompts, params)


@pytest.mark.parametrize("fast_decoder", [True, False])
def test_samples_do_not_depend_on_the_sync_interval_or_on_dropping_finished_rows(
    model_and_tok, monkeypatch, fast_decoder
):
    model, tok = model_and_tok
    params = SamplingParams(n=6, max_new_tokens=10, temperature=1.5)
    runs = {}
    for compact_below in (0.0, 0.5, 1.0):  # never drop finished rows, at half, at every look
        for every in (1, 3, 16):  # 16 > max_new_tokens: the host never looks before the end
            monkeypatch.setattr(hf_engine, "COMPACT_BELOW", compact_below)
            out = _generate(model, tok, params, sync_every=every, fast_decoder=fast_decoder)
            runs[compact_below, every] = out
    ref = runs[0.5, 1]
    lengths = {len(c.token_ids) for c in ref}
    assert len(lengths) > 1 and min(lengths) < params.max_new_tokens, "some rows must finish early"
    for key, out in runs.items():
        assert [c.token_ids for c in out] == [c.token_ids for c in ref], key
        assert [c.finish_reason for c in out] == [c.finish_reason for c in ref], key
        for a, b in zip(out, ref, strict=True):
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5), key


def test_samples_equal_a_plain_loop_with_the_same_draws(model_and_tok):
    """A reference sampler with no cache, no batch and no compaction: each row alone, a full forward
    over prompt + tokens so far at every step, inverse-CDF sampling with the row's own uniform."""
    model, tok = model_and_tok
    params = SamplingParams(n=4, max_new_tokens=8, temperature=1.3)
    out = _generate(model, tok, params, seed=11, sync_every=4)
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    jobs = [ids for ids in prompts for _ in range(params.n)]
    draws = RowUniforms(torch.Generator().manual_seed(11), len(jobs), torch.device("cpu"))
    uniforms = torch.cat([draws.next() for _ in range(params.max_new_tokens)], dim=1)  # (B, T)
    for row, (ids, got) in enumerate(zip(jobs, out, strict=True)):
        seq, logps = list(ids), []
        for t in range(params.max_new_tokens):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([seq])).logits[0, -1] / params.temperature
            logp = logits.log_softmax(-1)
            cdf = logp.exp().double().cumsum(-1)
            token = int(
                torch.searchsorted(cdf, uniforms[row, t] * cdf[-1], right=True).clamp_max(cdf.numel() - 1)
            )
            seq.append(token)
            logps.append(float(logp[token]))
            if token == tok.eos_token_id:
                break
        assert got.token_ids == seq[len(ids) :], row
        assert got.logprobs == pytest.approx(logps, abs=1e-4), row


def test_the_host_looks_every_step_on_the_cpu_and_with_stop_strings(model_and_tok):
    model, tok = model_and_tok
    engine = HFEngine(model, tok)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert engine._sync_every(cpu, SamplingParams()) == 1
    assert engine._sync_every(cuda, SamplingParams()) == hf_engine.SYNC_EVERY
    assert engine._sync_every(cuda, SamplingParams(stop=["\n"])) == 1
    assert HFEngine(model, tok, sync_every=5)._sync_every(cpu, SamplingParams()) == 5
