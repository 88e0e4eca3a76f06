"""The episode runner: token in, token out per template family; rewards, errors, budgets, stop strings."""

import pytest
import torch

from rlvr.data import generate
from rlvr.data.sample import EnvSpec, Sample
from rlvr.envs import Env, EnvExecutor, StepResult
from rlvr.rollout.types import Completion, SamplingParams
from rlvr.training.batch import collate
from rlvr.training.episode_metrics import episode_metrics
from rlvr.training.episodes import run_episodes
from rlvr.training.multiturn_config import MultiTurnConfig
from tests.rollout.chat_templates import build_family_tokenizer


class ScriptedEngine:
    """Answers each prompt with the next scripted text; records every prompt and sampled id."""

    def __init__(self, tokenizer, answers: list[str], eos: bool = True) -> None:
        self.tok, self.answers, self.eos = tokenizer, answers, eos
        self.calls: list[tuple[list[list[int]], SamplingParams]] = []
        self.sampled: list[list[int]] = []

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        self.calls.append((prompts, params))
        out = []
        for i, _ in enumerate(prompts):
            text = self.answers[len(self.sampled) % len(self.answers)]
            ids = self.tok(text, add_special_tokens=False)["input_ids"] + (
                [self.tok.eos_token_id] if self.eos else []
            )
            ids = ids[: params.max_new_tokens]
            self.sampled.append(ids)
            logps = [-0.5 - 0.01 * k for k in range(len(ids))]
            out.append(
                Completion(i, ids, logps, self.tok.decode(ids, skip_special_tokens=True), "stop", prompts[i])
            )
        return out


def chat_samples(secret: int = 62, max_turns: int = 4) -> list[Sample]:
    return [
        Sample(
            id="g",
            messages=[{"role": "user", "content": "guess 1-100"}],
            metadata={"secret": secret},
            env=EnvSpec("guess_number", {"high": 100, "chat": True}, max_turns),
        )
    ]


@pytest.mark.parametrize("family", ["qwen2.5", "llama3", "qwen3"])
def test_sampled_ids_are_the_trained_ids(family):
    tok = build_family_tokenizer(family)
    answers = ["50", "75", "62"] if family != "qwen3" else ["<think>\nhalf\n</think>\n\n50", "75", "62"]
    engine = ScriptedEngine(tok, answers)
    trajs = run_episodes(
        engine.generate, tok, chat_samples(), SamplingParams(n=1), MultiTurnConfig(), EnvExecutor(2)
    )
    (traj,) = trajs
    assert traj.stop_reason == "done" and traj.turns == 3 and traj.turn_rewards == [0.0, 0.0, 1.0]
    rows = [r.completion(0, 0, "stop", "") for r in traj.rows]
    batch = collate(rows, tok.pad_token_id)
    trained = [batch.input_ids[i][batch.attention_mask[i] > 0].tolist() for i in range(batch.size)]
    # every row is, byte for byte, the ids the engine was conditioned on at a turn plus what it sampled;
    # every turn's conditioned + sampled ids open a row
    seen = [prompts[0] + sampled for (prompts, _), sampled in zip(engine.calls, engine.sampled, strict=True)]
    assert all(row in seen for row in trained)
    assert all(any(row[: len(ids)] == ids for row in trained) for ids in seen)
    # the trained (mask 1) ids are exactly the sampled ids, with their behaviour log-probs
    gen = [
        batch.input_ids[i, batch.prompt_width :][batch.response_mask[i] > 0].tolist()
        for i in range(batch.size)
    ]
    assert sum(gen, []) == sum(engine.sampled, [])
    logps = batch.behaviour_logprobs[batch.response_mask > 0].tolist()
    assert logps == pytest.approx(
        [x for ids in engine.sampled for x in [-0.5 - 0.01 * k for k in range(len(ids))]]
    )
    assert len(traj.rows) == (3 if family == "qwen3" else 1)
    assert episode_metrics(trajs)["episode/guess_number/rows_broken_by_template"] == (
        2.0 if family == "qwen3" else 0.0
    )


def test_turn_ends_mask_and_rewards_of_a_raw_text_episode():
    tok = build_family_tokenizer("qwen2.5")
    engine = ScriptedEngine(tok, ["4\n", "6\n", "7\n"], eos=False)
    samples = generate("guess_number", 1, seed=0, high=8)  # secret 7
    (traj,) = run_episodes(
        engine.generate, tok, samples, SamplingParams(n=1), MultiTurnConfig(), EnvExecutor(0)
    )
    row = traj.rows[0]
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert row.prompt_ids == enc("guess 1-8\n")
    assert row.token_ids == enc("4\n") + enc("higher\n") + enc("6\n") + enc("higher\n") + enc("7\n")
    gen, obs = [1] * len(enc("4\n")), [0] * len(enc("higher\n"))
    assert row.loss_mask == gen + obs + gen + obs + gen
    ends = [
        i
        for i, m in enumerate(row.loss_mask)
        if m and (i + 1 == len(row.loss_mask) or not row.loss_mask[i + 1])
    ]
    assert row.turn_ends == ends and row.turn_rewards == [0.0, 0.0, 1.0]
    m = episode_metrics([traj])
    by_turn = [m[f"episode/guess_number/turn_reward/turn_{k}"] for k in (1, 2, 3)]
    assert by_turn == [0.0, 0.0, 1.0] and m["episode/guess_number/turn_reward_mean"] == pytest.approx(1 / 3)
    assert traj.transcript == [
        ("prompt", "guess 1-8\n"),
        ("action", "4\n"),
        ("observation", "higher\n"),
        ("action", "6\n"),
        ("observation", "higher\n"),
        ("action", "7\n"),
    ]
    assert engine.calls[0][1].stop == ["\n"]  # the environment's stop strings reach the engine


class Flaky(Env):
    def __init__(self, fail_at: int = 2) -> None:
        self.fail_at, self.turn = fail_at, 0

    def step(self, action: str) -> StepResult:
        self.turn += 1
        if self.turn == self.fail_at:
            raise ConnectionError("retriever unreachable")
        return StepResult("ok\n", reward=0.25)


def test_an_env_error_is_recorded_not_scored_and_budgets_stop_trajectories(caplog):
    tok = build_family_tokenizer("qwen2.5")
    flaky = [
        Sample(
            id=f"f{i}",
            prompt="go\n",
            env=EnvSpec("tests.training.test_episodes:Flaky", {"fail_at": 2 + 9 * i}, 5),
        )
        for i in range(2)
    ]
    engine = ScriptedEngine(tok, ["a b c d\n"], eos=False)
    trajs = run_episodes(engine.generate, tok, flaky, SamplingParams(n=1), MultiTurnConfig(), EnvExecutor(2))
    assert (
        trajs[0].stop_reason == "env_error"
        and trajs[0].error == "step 2: ConnectionError: retriever unreachable"
    )
    assert trajs[1].stop_reason == "max_turns" and trajs[1].turns == 5 and trajs[1].error is None
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [
        "1 of 2 episodes ended with an environment error (masked out of training, counted in "
        "env_errors); the first: step 2: ConnectionError: retriever unreachable"
    ]
    m = episode_metrics(trajs)
    assert m["episode/all/env_errors"] == 1.0 and m["episode/all/stop/env_error"] == 0.5
    assert m["episode/all/return_mean"] == pytest.approx(1.25)  # the errored trajectory is not averaged in
    short = run_episodes(
        engine.generate,
        tok,
        flaky[1:],
        SamplingParams(n=1),
        MultiTurnConfig(max_total_tokens=12),
        EnvExecutor(0),
    )
    assert short[0].stop_reason == "max_total_tokens" and short[0].rows[0].total_len() <= 12


def test_episodes_with_a_tiny_model_and_the_hf_engine(tmp_path):
    from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
    from rlvr.rollout.hf_engine import HFEngine

    tok = build_tokenizer()
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2), tok
    )
    engine = HFEngine(model, tok, seed=0)
    samples = generate("guess_number", 3, seed=1, high=8, max_turns=3)
    params = SamplingParams(n=4, max_new_tokens=3)
    trajs = run_episodes(
        engine.generate, tok, samples, params, MultiTurnConfig(max_total_tokens=40), EnvExecutor(2)
    )
    assert len(trajs) == 12 and [t.prompt_index for t in trajs] == [i for i in range(3) for _ in range(4)]
    for t in trajs:
        assert t.stop_reason in {"done", "max_turns", "max_total_tokens"} and t.error is None
        row = t.rows[0]
        assert row.total_len() <= 40 and len(row.token_ids) == len(row.loss_mask) == len(row.logprobs)
        assert all(lp <= 0 for lp, m in zip(row.logprobs, row.loss_mask, strict=True) if m) and all(
            lp == 0 for lp, m in zip(row.logprobs, row.loss_mask, strict=True) if not m
        )
    batch = collate(
        [r.completion(t.prompt_index, t.sample_index, "stop", "") for t in trajs for r in t.rows],
        tok.pad_token_id,
    )
    assert batch.size == 12 and float(batch.response_mask.sum()) == sum(
        sum(r.loss_mask) for t in trajs for r in t.rows
    )
    assert torch.all(batch.behaviour_logprobs[batch.response_mask == 0] == 0)
