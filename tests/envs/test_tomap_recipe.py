"""recipes/tiny/tomap.yaml trains two steps end to end (offline persuadee, ToM both with a just-trained
attitude predictor, PPO with a critic, per-turn rewards); recipes/tomap.yaml loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr.cli import main
from rlvr.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_hub_recipe_loads() -> None:
    cfg = load_config(str(ROOT / "recipes/tomap.yaml"), [])
    assert cfg.model.path == "Qwen/Qwen2.5-3B-Instruct"
    assert (cfg.algorithm.advantage, cfg.algorithm.gamma, cfg.algorithm.lam, cfg.algorithm.kl_coef) == (
        "gae",
        1.0,
        1.0,
        0.001,
    )
    env = cfg.data.train[0].kwargs["env"]
    assert env["persuadee"]["chat"]["model"] == "Qwen/Qwen2.5-7B-Instruct" and env["tom"] == "both"


@pytest.mark.slow
def test_tiny_tomap_recipe_runs_two_steps(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    att = tmp_path / "att"
    argv = ["tomap", "train-attitude", "--out", str(att), "--embedder", "hashing", "--compact"]
    assert (
        main([*argv, "--dialogues", "1", "--heldout-dialogues", "1", "--epochs", "1", "--rounds", "1"]) == 0
    )
    overrides = [
        "trainer.steps=2",
        "trainer.prompts_per_step=2",
        "trainer.eval_every=2",
        "rollout.n=2",
        "data.train.0.size=8",
        "data.eval.0.size=4",
        f"data.train.0.kwargs.env.attitude={att}",
        f"data.eval.0.kwargs.env.attitude={att}",
        f"trainer.output_dir={tmp_path / 'runs'}",
    ]
    assert main(["--quiet", "train", "recipes/tiny/tomap.yaml", *overrides]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "perf/step_s" in m]
    assert len(steps) == 2 and all("critic/value_loss" in m for m in steps)
    assert "eval/episode/tomap/env/stance" in metrics[-1]
    assert "episode/tomap/env/format_violation" in steps[0]
