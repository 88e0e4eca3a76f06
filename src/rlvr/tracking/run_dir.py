"""The run directory: config, metrics, sample rollouts, checkpoints. A new run never overwrites one."""

from __future__ import annotations

import logging
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


def attach_run_log(run_dir: Path, filename: str = "train.log") -> list[logging.Handler]:
    """Copy rlvr's log records (INFO and up: resets, resumes, stops, warnings) into ``run_dir/train.log``.

    Where the application configured no logging, warnings also go to stderr, as they would have without
    the file handler (any handler in the hierarchy turns Python's last-resort stderr output off).
    """
    file_handler = logging.FileHandler(Path(run_dir) / filename, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [file_handler]
    if not logging.getLogger().handlers:
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("rlvr: %(message)s"))
        handlers.append(console)
    logger = logging.getLogger("rlvr")
    for handler in handlers:
        logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    return handlers


def detach_run_log(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        logging.getLogger("rlvr").removeHandler(handler)
        handler.close()
