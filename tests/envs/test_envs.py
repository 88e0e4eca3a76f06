import time

import pytest

from rlvr.data import generate
from rlvr.data.sample import EnvSpec, Sample
from rlvr.envs import ENVS, Env, EnvExecutor, StepResult, build_env
from rlvr.envs.guess_number import GuessNumber
from rlvr.registry import UnknownNameError


class Echo(Env):
    """Echoes the action back; done after the third."""

    def __init__(self, suffix: str = "") -> None:
        self.suffix, self.turns = suffix, 0

    def step(self, action: str) -> StepResult:
        self.turns += 1
        return StepResult(action + self.suffix, reward=0.5, done=self.turns == 3)


def test_registry_names_import_paths_and_errors():
    assert ENVS.get("guess_number") is GuessNumber
    env = build_env(EnvSpec("tests.envs.test_envs:Echo", {"suffix": "!"}))
    assert env.step("hi").observation == "hi!"
    with pytest.raises(UnknownNameError, match="known: guess_number"):
        build_env(EnvSpec("nope"))
    with pytest.raises(TypeError, match="subclass of rlvr.envs.Env"):
        build_env(EnvSpec("tests.envs.test_envs:test_registry_names_import_paths_and_errors"))
    with pytest.raises(TypeError, match="'guess_number' with params"):
        build_env(EnvSpec("guess_number", {"colour": 1}))


def test_sample_env_spec_from_a_row_dict():
    s = Sample(id="a", prompt="x", env={"name": "guess_number", "params": {"high": 4}, "max_turns": 2})
    assert s.env == EnvSpec("guess_number", {"high": 4}, 2)
    with pytest.raises(ValueError, match="max_turns must be >= 1"):
        EnvSpec("guess_number", max_turns=0)


def test_guess_number_feedback_rewards_and_errors():
    sample = generate("guess_number", 1, seed=0, high=8)[0]  # secret 7
    env = build_env(sample.env)
    assert env.reset(sample) == "guess 1-8\n"
    ok, found = {"invalid": 0.0, "repeat": 0.0, "consistent": 1.0}, {"success": 1.0}
    assert env.step("4\n") == StepResult("higher\n", 0.0, False, {**ok, "success": 0.0})
    assert env.step("9").observation == "lower\n"
    assert env.step("no idea") == StepResult("?\n", 0.0, False, {"invalid": 1.0, "success": 0.0})
    assert env.step("7\n") == StepResult(None, 1.0, True, {**ok, **found})
    shaped = GuessNumber(shaping=0.25)
    shaped.reset(sample)
    assert [shaped.step(g).reward for g in ("4", "3", "8", "7")] == [0.25, 0.0, 0.25, 1.0]  # 3: below 5-8
    hinted = GuessNumber(hint_range=True)
    hinted.reset(sample)
    assert [hinted.step(g).observation for g in ("4", "9", "5")] == [
        "higher 5-8\n",
        "lower 5-8\n",
        "higher 6-8\n",
    ]
    chat = GuessNumber(chat=True)
    assert chat.reset(sample) == [{"role": "user", "content": "guess 1-8"}]
    assert chat.step("1").observation == [{"role": "user", "content": "higher"}]
    with pytest.raises(ValueError, match="needs metadata.secret"):
        chat.reset(Sample(id="s", prompt="x"))


def test_guess_number_sft_rows_follow_the_game():
    rows = generate("guess_number_sft", 50, seed=3, high=8, informed=1.0)
    for row in rows:
        lines = (row.prompt or "").splitlines()
        assert lines[0] == "guess 1-8" and row.response is not None and row.response.endswith("\n")
        low, top = 1, 8
        for guess, said in zip(lines[1::2], lines[2::2], strict=True):
            low, top = (int(guess) + 1, top) if said == "higher" else (low, int(guess) - 1)
        assert low <= int(row.response) <= top  # informed=1: always inside the open range


def test_executor_runs_concurrently_and_records_errors_and_timeouts():
    def boom() -> int:
        raise RuntimeError("retriever down")

    def slow() -> int:
        time.sleep(2.0)
        return 1

    ex = EnvExecutor(workers=4, timeout_s=0.5)
    t0 = time.perf_counter()
    out = ex.run([lambda: 3, boom, slow, lambda: 4])
    assert time.perf_counter() - t0 < 1.5
    assert [o.value for o in out] == [3, None, None, 4]
    assert [o.error for o in out] == [None, "RuntimeError: retriever down", "timeout after 0.5 s", None]
    assert all(o.latency_s >= 0 for o in out) and out[2].latency_s >= 0.5
    ex.close()
    inline = EnvExecutor(workers=0).run([lambda: 5, boom])
    assert inline[0].value == 5 and inline[1].error == "RuntimeError: retriever down"


def test_env_samples_round_trip_through_jsonl(tmp_path):
    from rlvr.data import load_jsonl, save_jsonl
    from rlvr.data.errors import DataFormatError

    samples = generate("guess_number", 3, seed=0, high=6, max_turns=2)
    save_jsonl(samples, tmp_path / "episodes.jsonl")
    loaded = load_jsonl(tmp_path / "episodes.jsonl")
    assert (
        [s.env for s in loaded]
        == [s.env for s in samples]
        == [EnvSpec("guess_number", {"high": 6, "chat": False, "hint_range": False, "shaping": 0.0}, 2)] * 3
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "env": {"name": "guess_number", "max_turns": 0}}\n')
    with pytest.raises(DataFormatError, match="env.max_turns"):
        load_jsonl(bad)
