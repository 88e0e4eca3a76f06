"""The run report: plots and one self-contained, safely escaped HTML page from a run directory."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlvr.tracking.logger import MetricsLogger
from rlvr.tracking.report import report_main, write_report

XSS = "<script>alert(1)</script>"
SOURCES = ("gsm8k", "countdown")


def _step_metrics(step: int) -> dict[str, float]:
    progress = step / 30
    m = {
        "reward/all/reward_mean": 0.2 + 0.6 * progress + 0.05 * math.sin(step),
        "reward/all/accuracy": 0.15 + 0.6 * progress,
        "reward/all/response_length": 180 - 60 * progress,
        "reward/all/response_length_correct": 150 - 50 * progress,
        "reward/all/response_length_incorrect": 200 - 40 * progress,
        "train/kl_loss": 0.002 * step,
        "train/approx_kl": 0.001 + 0.0005 * math.cos(step),
        "train/entropy": 1.2 - 0.5 * progress,
        "train/clip_frac_low": 0.01 + 0.002 * math.sin(step),
        "train/clip_frac_high": 0.03 - 0.01 * progress,
        "perf/step_s": 2.0 + 0.1 * math.sin(step),
        "perf/gen_s": 1.2,
        "perf/reward_s": 0.1,
        "perf/update_s": 0.7,
        "train/grad_norm": float("nan") if step == 7 else 0.5,  # written as the string 'nan'
    }
    for i, src in enumerate(SOURCES):
        m[f"reward/data_source/{src}/reward_mean"] = 0.1 * i + 0.5 * progress
        m[f"reward/data_source/{src}/accuracy"] = 0.1 * i + 0.4 * progress
    if step % 10 == 0:
        for src in (*SOURCES, "all"):
            m.update({f"eval/{src}/accuracy": 0.3 + progress / 2, f"eval/{src}/pass@4": 0.5 + progress / 3})
    return m


def _sample(step: int, i: int) -> dict:
    return {
        "step": step,
        "data_source": SOURCES[i % 2],
        "prompt": f"Question {i}: what is {i} + {step}?",
        "completion": XSS if i == 0 else f"<think>add them</think> The answer is {i + step}.",
        "reward": float(i % 2),
        "correct": [True, False, None][i % 3],
        "verifier": "math",
        "info": {"extracted": str(i + step), "note": "<b>bold?</b>"},
        "finish_reason": "length" if i == 3 else "stop",
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A 30-step run with evaluations and sample rollouts, its report written once for the module."""
    run = tmp_path_factory.mktemp("runs") / "grpo-demo"
    logger = MetricsLogger(run)
    for step in range(1, 31):
        logger.log(step, _step_metrics(step))
    logger.close()
    (run / "samples").mkdir()
    for step in (10, 20, 30):
        lines = [json.dumps(_sample(step, i)) for i in range(6)]
        (run / "samples" / f"step-{step:06d}.jsonl").write_text("\n".join(lines) + "\n")
    (run / "config.yaml").write_text("name: grpo-demo\ntrainer:\n  steps: 30\n")
    write_report(run)
    return run


def test_report_writes_plots_and_page(run_dir: Path):
    page = run_dir / "report" / "index.html"
    for name in ("reward", "accuracy", "response_length", "kl", "entropy", "clip_frac", "step_time"):
        png = run_dir / "report" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert (run_dir / "report" / "eval_accuracy.png").exists()
    assert not (run_dir / "report" / "sft_loss.png").exists()  # no sft_metrics.jsonl: skipped
    html = page.read_text()
    assert html.count('src="data:image/png;base64,') == 8
    assert "reward/all/reward_mean" in html and "Evaluation" in html and "pass@4" in html
    assert html.count('data-source="gsm8k"') == 9 and html.count('data-source="countdown"') == 9
    assert "steps: 30" in html  # the config


def test_untrusted_text_is_escaped(run_dir: Path):
    html = (run_dir / "report" / "index.html").read_text()
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold?</b>" not in html and "&lt;think&gt;" in html
    assert html.count("<script") == 1  # only the page's own filter script
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_missing_metrics_are_skipped(tmp_path: Path):
    logger = MetricsLogger(tmp_path)
    logger.log(1, {"reward/all/reward_mean": 0.5, "perf/step_s": 1.0})
    logger.close()
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 2, "reward/all/rew')  # a run killed mid-line
    html = write_report(tmp_path).read_text()
    assert sorted(p.name for p in (tmp_path / "report").glob("*.png")) == ["reward.png", "step_time.png"]
    assert "1 line(s) that were not JSON" in html
    assert "<h2>Sample rollouts" not in html and "<h2>Evaluation" not in html and "<script" not in html


def test_sft_only_run(tmp_path: Path):
    logger = MetricsLogger(tmp_path, "sft_metrics.jsonl")
    for step in range(1, 5):
        logger.log(step, {"sft/loss": 2.0 / step, "perf/step_s": 0.5})
    logger.close()
    write_report(tmp_path)
    assert (tmp_path / "report" / "sft_loss.png").exists()


def test_report_main_errors(tmp_path: Path, capsys):
    assert report_main(str(tmp_path / "nope")) == 1
    assert "does not exist" in capsys.readouterr().err
    assert report_main(str(tmp_path)) == 1
    assert "metrics.jsonl" in capsys.readouterr().err


def test_report_main_ok(run_dir: Path, capsys):
    assert report_main(str(run_dir)) == 0
    assert str(run_dir / "report" / "index.html") in capsys.readouterr().out


def test_heavy_packages_are_imported_lazily():
    code = (
        "import sys, rlvr.tracking.report, rlvr.tracking.sinks, rlvr.tracking.config\n"
        "print(sorted(m for m in ('matplotlib', 'wandb', 'mlflow', 'tensorboard') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_page_renders_in_headless_chromium(run_dir: Path, tmp_path: Path):
    page = run_dir / "report" / "index.html"
    shot = tmp_path / "report.png"
    flags = "--no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    flags += " --disable-component-update --disable-sync --hide-scrollbars --window-size=1280,2000"
    cmd = [CHROMIUM, "--headless", *flags.split(), f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run(
        [*cmd, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=60, check=False
    )
    assert shot.exists(), "chromium wrote no screenshot"
    assert shot.stat().st_size > 50_000  # a blank 1280x2000 page compresses to a few KB
    dom = subprocess.run(
        [*cmd, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60
    ).stdout
    assert "18 of 18 shown" in dom  # the filter script ran: the CSP admits it by its hash
