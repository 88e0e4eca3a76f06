"""The VLM recipes: the hub ones load, and their tiny twins run end to end on a tiny VLM built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr.cli import main
from rlvr.config import load_config

ROOT = Path(__file__).resolve().parents[2]
HUB = {"vlaa_grpo": "Qwen/Qwen2.5-VL-3B-Instruct", "vlaa_sft_grpo": "Qwen/Qwen2.5-VL-3B-Instruct"}
HUB["orsta"] = "Qwen/Qwen2.5-VL-7B-Instruct"


@pytest.mark.parametrize("name", sorted(HUB))
def test_hub_recipe_and_its_twin_load(name):
    hub, twin = load_config(ROOT / f"recipes/{name}.yaml"), load_config(ROOT / f"recipes/tiny/{name}.yaml")
    assert hub.model.path == HUB[name] and hub.model.freeze_vision
    assert twin.model.tiny_vlm == "qwen2_5_vl" and twin.model.path is None
    assert twin.algorithm == hub.algorithm and twin.rollout.temperature == hub.rollout.temperature


def test_orsta_keeps_v_triunes_settings():
    cfg = load_config(ROOT / "recipes/orsta.yaml")
    a = cfg.algorithm
    assert (a.eps_low, a.eps_high, a.kl_coef, a.loss_agg, cfg.rollout.n) == (0.2, 0.28, 0.0, "token_mean", 8)
    assert cfg.optim.lr == 1e-6
    (schedule,) = cfg.reward.schedules
    assert (schedule.boundaries, schedule.values) == ([0.1, 0.25], [0.85, 0.95, 0.99])


@pytest.mark.slow
def test_tiny_vlaa_grpo_and_orsta_run_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for name in ("vlaa_grpo", "orsta"):
        args = [f"recipes/tiny/{name}.yaml", "trainer.steps=2", f"trainer.output_dir={tmp_path}"]
        args += [f"trainer.run_name={name}", "data.eval.0.size=8", "rollout.max_new_tokens=16"]
        monkeypatch.chdir(ROOT)
        assert main(["train", *args]) == 0
        rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        assert rows[0]["step"] == 1 and "reward/all/reward_mean" in rows[0]
        assert (tmp_path / name / "final" / "rlvr_tiny_vlm.json").is_file()  # the processor saved with it
    sources = {k.split("/")[2] for k in rows[0] if k.startswith("reward/data_source/")}
    assert sources == {"shape_count", "shape_box", "colour_detection"}  # orsta: per-source metrics
