"""Multi-turn episodes on the vllm engine, run against a FAKE vLLM (tests/rollout/fake_vllm.py), not a
real one: token ids in (``TokensPrompt``), per-environment stop strings, behaviour log-probs out, and
the learner's weights loaded into the engine after every update. tests/rollout/test_vllm_engine.py and
tests/distributed/test_vllm_trainer.py run the real vLLM where it is installed."""

import pytest
import torch

from rlvr.data import generate
from rlvr.data.sample import EnvSpec, Sample
from rlvr.envs import Env, EnvExecutor, StepResult
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.types import SamplingParams
from rlvr.training.episodes import run_episodes
from rlvr.training.multiturn_config import MultiTurnConfig
from tests.rollout import fake_vllm
from tests.rollout.chat_templates import build_family_tokenizer


@pytest.fixture
def vllm_engine_cls(monkeypatch):
    """VLLMEngine with the fake in place of vLLM (for this test only)."""
    fake_vllm.install(monkeypatch)
    fake_vllm.INSTANCES.clear()
    from rlvr.rollout.vllm_engine import VLLMEngine

    return VLLMEngine


class Shout(Env):
    """A chat environment whose actions end with '!' (another stop string than guess_number's)."""

    stop = ["!"]

    def step(self, action: str) -> StepResult:
        return StepResult([{"role": "user", "content": "again"}], reward=0.1)


def _save(tok, model, path):
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def test_episodes_on_vllm_are_token_in_token_out_with_each_envs_stop_strings(tmp_path, vllm_engine_cls):
    tok = build_family_tokenizer("qwen2.5")
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, max_positions=512)
    engine = vllm_engine_cls(_save(tok, build_tiny_model(cfg, tok), tmp_path), tok, seed=3)
    (llm,) = fake_vllm.INSTANCES
    guess = Sample(
        id="g",
        messages=[{"role": "user", "content": "guess 1-100"}],
        metadata={"secret": 62},
        env=EnvSpec("guess_number", {"high": 100, "chat": True}, 3),
    )
    shout = Sample(
        id="s",
        messages=[{"role": "user", "content": "shout"}],
        env=EnvSpec("tests.rollout.test_vllm_episodes:Shout", {}, 3),
    )
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=6)
    trajs = run_episodes(
        engine.generate, tok, [guess, shout], params, MultiTurnConfig(max_total_tokens=400), EnvExecutor(2)
    )
    assert len(trajs) == 6 and all(t.error is None and t.turns >= 1 for t in trajs)
    # one engine call per turn and stop-string set; each request carries its environment's stop strings
    stops = {tuple(p.stop or []) for _, p, _ in llm.requests}
    assert stops == {("\n",), ("!",)}
    assert all(p.include_stop_str_in_output and p.detokenize and p.logprobs == 0 for _, p, _ in llm.requests)
    seeds = [p.seed for _, p, _ in llm.requests]
    assert len(set(seeds)) == len(seeds), "every request draws its own seed from the engine's generator"
    # token in, token out: each row is the ids vLLM was conditioned on at its last turn plus what it
    # sampled; the generated (mask 1) ids are exactly vLLM's, with vLLM's log-probs
    seen = [prompt + out.token_ids for prompt, _, out in llm.requests]
    for t in trajs:
        (row,) = t.rows
        whole = row.prompt_ids + row.token_ids
        assert whole in seen
        turns = [
            (prompt, out)
            for prompt, _, out in llm.requests
            if whole[: len(prompt) + len(out.token_ids)] == prompt + out.token_ids
        ]
        assert len(turns) == t.turns
        generated = [i for i, m in zip(row.token_ids, row.loss_mask, strict=True) if m]
        assert generated == [i for _, out in turns for i in out.token_ids]
        logps = [lp for lp, m in zip(row.logprobs, row.loss_mask, strict=True) if m]
        vllm_logps = [
            d[i].logprob for _, out in turns for i, d in zip(out.token_ids, out.logprobs, strict=True)
        ]
        assert logps == vllm_logps
    shouts = [t for t in trajs if t.env_name.endswith("Shout")]
    assert {tuple(p.stop or []) for prompt, p, _ in llm.requests if tok.decode(prompt).count("shout")} == {
        ("!",)
    }
    assert all(t.stop_reason == "max_turns" and t.turns == 3 for t in shouts)
    engine.close()
    assert llm.llm_engine.engine_core.shut


def test_greedy_episodes_on_vllm_match_the_hf_engine(tmp_path, vllm_engine_cls):
    tok = build_tokenizer()
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2), tok
    )
    vllm = vllm_engine_cls(_save(tok, model, tmp_path), tok, seed=0)
    hf = HFEngine(model.eval(), tok, seed=0)
    samples = generate("guess_number", 4, seed=1, high=8, max_turns=3)
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=3)
    mt = MultiTurnConfig(max_total_tokens=40)
    a = run_episodes(hf.generate, tok, samples, params, mt, EnvExecutor(0))
    b = run_episodes(vllm.generate, tok, samples, params, mt, EnvExecutor(0))
    for x, y in zip(a, b, strict=True):
        assert x.transcript == y.transcript and x.stop_reason == y.stop_reason
        assert [r.token_ids for r in x.rows] == [r.token_ids for r in y.rows]
        assert [r.loss_mask for r in x.rows] == [r.loss_mask for r in y.rows]
        for rx, ry in zip(x.rows, y.rows, strict=True):
            assert ry.logprobs == pytest.approx(rx.logprobs, abs=1e-5)


def test_a_multiturn_ppo_run_on_the_vllm_engine_syncs_weights_and_matches_the_learner(tmp_path, monkeypatch):
    from rlvr.tracking.logger import read_metrics
    from tests.training.helpers import learner_of, make_trainer, tiny_recipe
    from tests.training.test_multiturn_trainer import BASE

    fake_vllm.install(monkeypatch)
    fake_vllm.INSTANCES.clear()
    cfg = tiny_recipe(
        tmp_path,
        *BASE,
        "data.eval=[]",
        "trainer.steps=2",
        "rollout.engine=vllm",
        "algorithm.advantage=gae",
        "algorithm.tis_cap=2.0",
        "trainer.skip_zero_advantage=false",  # every row enters the loss and its importance-ratio metrics
        "critic={lr: 1e-2}",
    )
    trainer = make_trainer(cfg, show_progress=False)
    trainer.fit()
    (llm,) = fake_vllm.INSTANCES
    policy = learner_of(trainer).model.state_dict()
    for key, value in llm.model.state_dict().items():  # the engine samples with the learner's weights
        torch.testing.assert_close(value, policy[key], rtol=0, atol=0)
    trainer.close()
    rows = read_metrics(trainer.run_dir / "metrics.jsonl")
    # weights loaded at the start (the learner's, possibly resumed) and after each of the 2 updates
    assert llm.reloads == 3 and [r["async/policy_version"] for r in rows] == [0.0, 1.0]
    for r in rows:  # vLLM's behaviour log-probs of the generated tokens are the learner's
        assert abs(r["train/tis_ratio_mean"] - 1.0) < 1e-4 and r["episode/guess_number/trajectories"] == 16.0
    assert {tuple(p.stop or []) for _, p, _ in llm.requests} == {("\n",)}
