"""Metrics: one JSON line per step in the run directory, always; other sinks plug in beside it."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep the fact visible
    return value


class MetricsLogger:
    """Appends ``{"step": n, **metrics}`` to ``metrics.jsonl``, flushed at once (a crash loses nothing)."""

    def __init__(self, run_dir: str | Path, filename: str = "metrics.jsonl") -> None:
        self.path = Path(run_dir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        row = {"step": step, **{k: _clean(v) for k, v in sorted(metrics.items())}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl file."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def append_to_run(run_dir: Path, metrics: Mapping[str, float]) -> None:
    """Add the metrics to a run's metrics.jsonl at its last step, where `rlvr report` shows them."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.jsonl: give --run-dir a run directory")
    step = max((row["step"] for row in read_metrics(path)), default=0)
    logger = MetricsLogger(run_dir)
    logger.log(step, metrics)
    logger.close()


def truncate_logs(run_dir: Path, step: int) -> None:
    """Drop the rows of ``step`` > ``step`` from the RL loop's logs, ``metrics.jsonl`` and ``samples/*.jsonl``,
    atomically (other files, like an SFT phase's ``sft_metrics.jsonl``, count other steps)."""
    run_dir = Path(run_dir)
    for path in [run_dir / "metrics.jsonl", *sorted(run_dir.glob("samples/*.jsonl"))]:
        if path.is_file():
            _truncate_jsonl(path, step)


def _truncate_jsonl(path: Path, step: int) -> None:
    """Keep the rows of steps <= ``step``; drop later ones and lines that are not JSON rows (a line torn
    by a kill, garbage), so that the resumed run's rows follow without duplicates."""
    lines = path.read_bytes().splitlines(keepends=True)
    kept, garbage = [], []
    for i, raw in enumerate(lines):
        try:
            line = raw.decode("utf-8")
            row = json.loads(line) if line.strip() else None
        except ValueError:  # UnicodeDecodeError included
            if i < len(lines) - 1:  # the last line may just be torn by the kill
                garbage.append(i + 1)
            continue
        if not (isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] > step):
            kept.append(line if line.endswith("\n") else line + "\n")
    if garbage:
        log.warning("%s: dropped %d line(s) that are not JSON rows: %s", path, len(garbage), garbage[:10])
    if len(kept) == len(lines):
        return
    if not kept:  # e.g. samples/step-000009.jsonl of a step after the checkpoint
        path.unlink()
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        f.writelines(kept)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)  # the rename itself, durable
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
