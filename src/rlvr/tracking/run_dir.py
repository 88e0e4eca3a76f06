"""The run directory: config, metrics, sample rollouts, checkpoints. A new run never overwrites one."""

from __future__ import annotations

import time
from pathlib import Path

import yaml


def new_run_dir(parent: str | Path, name: str, run_name: str | None = None) -> Path:
    """Create ``parent/<run_name or name-YYYYmmdd-HHMMSS>``, adding a suffix if it exists already."""
    base = Path(parent) / (run_name or f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    path.mkdir(parents=True)
    return path


def write_config(run_dir: Path, config) -> Path:
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path
