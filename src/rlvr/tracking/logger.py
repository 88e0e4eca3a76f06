"""Metrics: one JSON line per step in the run directory, always; other sinks plug in beside it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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
