"""`rlvr analyze` end to end on a tiny model built from scratch (seconds)."""

import json

import pytest

from rlvr.cli import main

TINY = "{hidden_size: 32, intermediate_size: 64, num_layers: 1, num_heads: 2, max_positions: 96}"
GEN = "rlvr.data.addition:carry_addition"


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        f"model: {{tiny: {TINY}}}\n"
        f"data:\n  eval: [{{type: synthetic, generator: '{GEN}', size: 2, seed: 3, kwargs: {{num_digits: 2}}}}]\n"
        "rollout: {max_new_tokens: 12}\nreward: {workers: 0}\n"
    )
    return path


def test_confidence_writes_curves_averages_and_a_plot(recipe, tmp_path):
    out = tmp_path / "c.json"
    assert (
        main(["analyze", "confidence", str(recipe), "--traces", "2", "--problems", "2", "--output", str(out)])
        == 0
    )
    res = json.loads(out.read_text())
    assert res["summary"]["traces"] == 4 and len(res["curves"]) == 4
    block = len("\\boxed{") + 3  # the task's answer prompt and a 3-digit gold answer
    for c in res["curves"]:
        assert c["points"] == list(range(0, c["trace_tokens"] - block + 1))
        assert len(c["nll"]) == len(c["points"]) and all(x > 0 for x in c["nll"])
    assert res["average"]["n_correct"] + res["average"]["n_incorrect"] <= 4
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_truncation_and_reflection_run(recipe, tmp_path):
    t, r = tmp_path / "t.json", tmp_path / "r.json"
    args = ["--traces", "1", "--problems", "2"]
    assert (
        main(["analyze", "truncation", str(recipe), *args, "--fractions", "0,0.5,1", "--output", str(t)]) == 0
    )
    res = json.loads(t.read_text())
    assert res["fractions"] == [0.0, 0.5, 1.0] and len(res["accuracy"]) == 3
    assert all(0 <= a <= 1 for a in res["accuracy"])
    assert main(["analyze", "reflection", str(recipe), *args, "--words", "a,b", "--output", str(r)]) == 0
    res = json.loads(r.read_text())
    assert res["summary"]["traces"] == 2 and res["nll_change"]["tokens"] > 0


def test_a_run_directory_is_analysed_and_reported(recipe, tmp_path):
    from rlvr.data.addition import carry_addition

    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 1, "reward/all/reward_mean": 0.5}\n')
    s = carry_addition(2, 3, num_digits=2)[0]
    row = {"step": 1, "prompt": s.prompt, "completion": s.response, "correct": True}
    (run / "samples" / "rollouts.jsonl").write_text(json.dumps(row) + "\n")
    assert main(["analyze", "confidence", str(recipe), "--run-dir", str(run)]) == 0
    res = json.loads((run / "analysis" / "confidence.json").read_text())
    assert res["summary"] == {**res["summary"], "traces": 1, "accuracy": 1.0}
    assert main(["report", str(run)]) == 0
    assert "Analysis: confidence" in (run / "report" / "index.html").read_text()


def test_summarise_compares_full_thinking_summary_and_none(recipe, tmp_path):
    from rlvr.models.tiny import TinyModelConfig, save_tiny

    summariser = save_tiny(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, max_positions=256),
        tmp_path / "summariser",
    )
    out = tmp_path / "s.json"
    args = ["--traces", "1", "--problems", "2", "--summariser", str(summariser), "--summary-tokens", "4"]
    assert main(["analyze", "summarise", str(recipe), *args, "--output", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["summary"]) == {"traces", "trace_accuracy", "full_thinking", "summary", "no_thinking"}
    assert res["summary"]["traces"] == 2 and len(res["examples"]) == 2
