"""scripts/imagenav_summary.py on run directories written the way ``rlvr train`` writes them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "imagenav_summary.py"


def _script():
    spec = importlib.util.spec_from_file_location("imagenav_summary", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, name: str, sr: float, probe: float, stop_metrics: bool) -> Path:
    run = tmp_path / name
    run.mkdir()
    cfg = {
        "seed": 3,
        "policy": {"arch": "channelcat"},
        "env": {"sliding": True},
        "ppo": {"entropy_coef": 0.05},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows = []
    for step in range(1, 201):
        row = {"step": step, "nav/env_steps": step * 512.0, "nav/success": sr, "nav/length": 10.0}
        row |= {"train/entropy": 1.0, "perf/env_steps_per_s": 400.0}
        if stop_metrics:
            row |= {"nav/stopped": 0.9, "nav/stop_at_once": 0.1}
        rows.append(row)
    rows.append({"step": 200, "eval/heldout/success": sr, "eval/heldout/probe_heading_err_deg": probe})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_rl_summary_writes_the_curve_and_the_probe_correlation(tmp_path, capsys):
    pytest.importorskip("scipy")
    runs = [
        _run(tmp_path, "a", 0.6, 60.0, stop_metrics=True),
        _run(tmp_path, "b", 0.3, 70.0, stop_metrics=False),  # a run from before the STOP metrics
        _run(tmp_path, "c", 0.1, 90.0, stop_metrics=True),
    ]
    out = tmp_path / "sum.json"
    assert _script().main(["rl", *map(str, runs), "--out", str(out)]) == 0
    sums = json.loads(out.read_text(), parse_constant=pytest.fail)  # no NaN for missing metrics
    assert [s["seed"] for s in sums] == [3, 3, 3] and sums[0]["entropy_coef"] == 0.05
    first = sums[0]["train_curve_per_100_updates"][0]
    assert first == {
        "env_steps": 51200.0,
        "train_sr": 0.6,
        "length": 10.0,
        "entropy": 1.0,
        "stopped": 0.9,
        "stop_at_once": 0.1,
    }
    assert sums[1]["train_curve_per_100_updates"][0]["stopped"] is None
    printed = capsys.readouterr().out
    assert "Spearman rho(probe heading error, SR) = -1.00 over 3 runs" in printed
    assert "  a: 102k 60.0%\n" in printed and sums[0]["evals"][0]["env_steps"] == 102400.0
