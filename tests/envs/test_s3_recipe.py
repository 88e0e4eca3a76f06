"""recipes/tiny/s3.yaml trains two steps end to end: the RAG-filtered synthetic world, BM25, the frozen
world reader, PPO with a critic."""

import json
from pathlib import Path

import pytest

from rlvr.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_s3_recipe_runs_two_steps(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    overrides = [
        "trainer.steps=2",
        "trainer.prompts_per_step=2",
        "trainer.eval_every=2",
        "rollout.n=2",
        "rollout.max_new_tokens=16",
        "data.train.0.size=8",
        "data.train.0.kwargs.pool=40",
        "data.eval.0.size=4",
        "data.eval.1.size=4",
        f"trainer.output_dir={tmp_path / 'runs'}",
    ]
    assert main(["--quiet", "train", "recipes/tiny/s3.yaml", *overrides]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "perf/step_s" in m]
    assert len(steps) == 2 and all("critic/value_loss" in m for m in steps)
    assert "eval/episode/s3/return_mean" in metrics[-1]
    assert "episode/s3/env/format_error" in steps[0]
