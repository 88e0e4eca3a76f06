"""``rlvr report RUN_DIR``: plots and one self-contained HTML page from a run directory.

Reads ``metrics.jsonl`` (and ``sft_metrics.jsonl``), ``samples/*.jsonl`` and ``config.yaml`` if present;
writes ``report/<plot>.png`` and ``report/index.html`` (plots embedded, no network needed to view it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRICS, SFT_METRICS, SAMPLES_DIR, REPORT_DIR = "metrics.jsonl", "sft_metrics.jsonl", "samples", "report"
ANALYSIS_DIR = "analysis"
"""Where ``rlvr analyze ... --run-dir RUN_DIR`` writes its JSON and plots; the report shows the plots."""
MAX_SAMPLES = 2000
"""The page shows at most this many sample rollouts, the newest ones."""

SUMMARY_KEYS = (
    "reward/all/reward_mean",
    "reward/all/accuracy",
    "reward/all/response_length",
    "reward/all/truncation_rate",
    "reward/all/error_count",
    "train/entropy",
    "train/kl_loss",
    "train/approx_kl",
    "train/grad_norm",
    "train/lr",
    "perf/step_s",
    "perf/gen_tokens_per_s",
    "sft/loss",
)


@dataclass
class RunData:
    """Everything a report shows, read from a run directory."""

    run_dir: Path
    metrics: list[dict[str, Any]]
    sft: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    samples_total: int = 0
    config_text: str | None = None
    bad_lines: int = 0
    """Lines that were not JSON objects (a run killed mid-write leaves at most one per file)."""


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    rows, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory; FileNotFoundError if it or both metrics files are missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    paths = {name: run_dir / name for name in (METRICS, SFT_METRICS)}
    if not any(p.exists() for p in paths.values()):
        raise FileNotFoundError(f"{run_dir} has no {METRICS}: is it the directory of an `rlvr train` run?")
    data = RunData(run_dir, [])
    for name, path in paths.items():
        if path.exists():
            rows, bad = _read_jsonl(path)
            data.bad_lines += bad
            if name == METRICS:
                data.metrics = rows
            else:
                data.sft = rows
    samples = []
    for path in sorted((run_dir / SAMPLES_DIR).glob("*.jsonl")):
        rows, bad = _read_jsonl(path)
        samples += rows
        data.bad_lines += bad
    samples.sort(key=_step, reverse=True)
    data.samples, data.samples_total = samples[:MAX_SAMPLES], len(samples)  # newest first
    config = run_dir / "config.yaml"
    data.config_text = config.read_text(encoding="utf-8", errors="replace") if config.exists() else None
    return data


def _step(sample: dict[str, Any]) -> int:
    """A logged sample's step (-1 when it has none, so those sort last, newest first)."""
    step = sample.get("step")
    return step if isinstance(step, int) else -1


def summary_table(rows: Sequence[dict[str, Any]]) -> list[tuple[str, float, float, float]]:
    """(metric, first, final, mean) of each SUMMARY_KEYS metric the run logged."""
    from rlvr.tracking.report_plots import series

    out = []
    for key in SUMMARY_KEYS:
        _, values = series(rows, key)
        if values:
            out.append((key, values[0], values[-1], sum(values) / len(values)))
    return out


def eval_table(rows: Sequence[dict[str, Any]]) -> tuple[int | None, list[str], dict[str, dict[str, float]]]:
    """The latest evaluation: its step, the metric columns, and {data_source: {metric: value}}."""
    from rlvr.tracking.report_plots import number

    for row in reversed(rows):
        table: dict[str, dict[str, float]] = {}
        for key, value in row.items():
            parts = key.split("/")
            if parts[0] == "eval" and len(parts) >= 3 and number(value) is not None:
                table.setdefault("/".join(parts[1:-1]), {})[parts[-1]] = float(value)
        if table:
            metrics = sorted({m for v in table.values() for m in v}, key=_eval_column_order)
            sources = sorted(table, key=lambda s: (s == "all", s))  # 'all' last, as a total
            return row.get("step"), metrics, {s: table[s] for s in sources}
    return None, [], {}


def _eval_column_order(name: str) -> tuple[int, str]:
    order = ("accuracy", "pass@", "maj@", "response_length", "errors", "problems")
    return next((i for i, prefix in enumerate(order) if name.startswith(prefix)), len(order)), name


def write_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report/`` (PNG plots and index.html); return the path of index.html."""
    from rlvr.tracking.report_html import render_page
    from rlvr.tracking.report_plots import PLOTS, render

    data = load_run(run_dir)
    out = data.run_dir / REPORT_DIR
    out.mkdir(exist_ok=True)
    plots: list[tuple[str, str, bytes]] = []
    for spec in PLOTS:
        png = render(spec, data.sft if spec.source == "sft" else data.metrics)
        if png is not None:
            (out / f"{spec.name}.png").write_bytes(png)
            plots.append((spec.name, spec.title, png))
    for png_path in sorted((data.run_dir / ANALYSIS_DIR).glob("*.png")):  # `rlvr analyze ... --run-dir`
        plots.append((f"analysis-{png_path.stem}", f"Analysis: {png_path.stem}", png_path.read_bytes()))
    for image in sorted((data.run_dir / "media").glob("*.png")):  # pictures a run saved (an episode strip)
        plots.append((image.stem, image.stem.replace("_", " ").capitalize(), image.read_bytes()))
    page = out / "index.html"
    page.write_text(render_page(data, plots), encoding="utf-8")
    return page


def report_main(run_dir: str) -> int:
    """Entry point of ``rlvr report RUN_DIR``: 0 and the page's path, or 1 and the reason."""
    try:
        page = write_report(run_dir)
    except FileNotFoundError as e:
        print(f"rlvr report: error: {e}", file=sys.stderr)
        return 1
    print(f"report: {page}")
    return 0
