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


def _run(
    tmp_path: Path,
    name: str,
    sr: float,
    probe: float,
    stop_metrics: bool,
    frozen: bool = False,
    updates: int = 200,
) -> Path:
    run = tmp_path / name
    run.mkdir(parents=True)
    cfg = {
        "seed": 3,
        "policy": {"arch": "channelcat"},
        "env": {"sliding": True},
        "ppo": {"entropy_coef": 0.05, "freeze_perception": frozen},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows = []
    for step in range(1, updates + 1):
        row = {"step": step, "nav/env_steps": step * 512.0, "nav/success": sr, "nav/length": 10.0}
        row |= {"train/entropy": 1.0, "perf/env_steps_per_s": 400.0}
        if stop_metrics:
            row |= {"nav/stopped": 0.9, "nav/stop_at_once": 0.1}
        rows.append(row)
    rows.append({"step": updates, "eval/heldout/success": sr, "eval/heldout/probe_heading_err_deg": probe})
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


def test_a_run_ended_by_stop_on_collapse_is_marked(tmp_path, capsys):
    run = _run(tmp_path, "stuck", 0.0, 80.0, stop_metrics=True)
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 200, "nav/collapsed_at_env_steps": 102400.0}) + "\n")
    fine = _run(tmp_path, "fine", 0.4, 60.0, stop_metrics=True)
    out = tmp_path / "sum.json"
    assert _script().main(["rl", str(run), str(fine), "--out", str(out)]) == 0
    sums = json.loads(out.read_text())
    assert [s["collapsed_at_env_steps"] for s in sums] == [102400.0, None]
    assert "| stuck (collapsed: STOP at once) | 102,400 |" in capsys.readouterr().out


def test_rl_reads_saved_summaries_back_keeps_the_longest_and_leaves_frozen_runs_out(tmp_path, capsys):
    pytest.importorskip("scipy")
    script = _script()
    early = tmp_path / "early.json"  # run "a" summarised at 100 updates, then continued
    assert (
        script.main(["rl", str(_run(tmp_path / "e", "a", 0.0, 99.0, True, updates=100)), "--out", str(early)])
        == 0
    )
    runs = [
        _run(tmp_path, "a", 0.6, 60.0, stop_metrics=True),
        _run(tmp_path, "b", 0.3, 70.0, stop_metrics=True),
        _run(tmp_path, "c", 0.1, 90.0, stop_metrics=True),
        _run(tmp_path, "d-frozen-0", 0.9, 95.0, stop_metrics=True, frozen=True),  # would break the order
    ]
    late = tmp_path / "late.json"
    assert script.main(["rl", *map(str, runs), "--out", str(late)]) == 0
    capsys.readouterr()
    combined = tmp_path / "combined.json"
    assert script.main(["rl", str(early), str(late), "--out", str(combined)]) == 0
    sums = json.loads(combined.read_text())
    assert [s["run"] for s in sums] == ["a", "b", "c", "d-frozen-0"]
    assert sums[0]["updates"] == 200 and sums[3]["freeze_perception"] is True
    assert "= -1.00 over 3 runs" in capsys.readouterr().out
    # a summary saved before the field existed: the recipes' run name says frozen
    del sums[3]["freeze_perception"]
    assert script._frozen(sums[3]) and not script._frozen(sums[0] | {"freeze_perception": False})


def test_a_path_that_is_no_run_and_no_summary_is_named_before_anything_is_read(tmp_path, capsys):
    script = _script()
    run = _run(tmp_path, "a", 0.6, 60.0, stop_metrics=True)
    missing = tmp_path / "imagenav-typo"
    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as e:
        script.main(["rl", str(run), str(missing), "--out", str(out)])
    assert e.value.code == 2 and not out.exists()  # nothing half-written
    assert (
        f"{missing}: expected a run directory (with a metrics.jsonl) or a summary" in capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        script.main(["supervised", str(tmp_path / "none.jsonl")])
    assert "none.jsonl: expected the JSONL file" in capsys.readouterr().err
