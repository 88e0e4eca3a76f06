"""Checks that a run can start, made before any model or data is loaded and before a run directory exists.

The config is already valid (:mod:`rlvr.config_rules`); these checks look at the machine: the model
directory, the data files, the reward server. Each problem is one line naming the field, what is wrong
and what to do; :func:`preflight` raises them all at once as a :class:`PreflightError`.
Nothing here imports torch.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rlvr.config import RunConfig

Command = Literal["train", "sft", "eval", "pseudo-label"]

_DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


class PreflightError(ValueError):
    """A run that cannot start: a missing model directory, data file or reward server (one per line)."""


def looks_local(path: str) -> bool:
    """Whether a model name is meant as a local directory rather than a hub id (``org/name``).

    Local: an absolute or ``./`` / ``../`` / ``~`` path, a path with more than one ``/`` (a hub id has at
    most one), or one whose first component is a directory here (``runs/final`` with ``runs/`` present).
    """
    if path.startswith(("/", "./", "../", "~", ".\\")) or "\\" in path or path.endswith("/"):
        return True
    parts = path.split("/")
    return len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


def check_model_path(path: str | None, field: str = "model.path") -> list[str]:
    """A local-looking model path must be a directory holding a model."""
    if path is None or not looks_local(path):
        return []
    p = Path(path).expanduser()
    if not p.exists():
        return [f"{field}: directory {path} does not exist; give a model directory or a hub id (org/name)"]
    if not p.is_dir():
        return [f"{field}: {path} is a file; give the directory that holds the model's config.json"]
    if not (p / "config.json").exists() and not (p / "adapter_config.json").exists():
        return [
            f"{field}: {path} holds no config.json; give a directory written by save_pretrained "
            "(e.g. a run's final/ or sft/)"
        ]
    return []


def _spec_paths(split: str, i: int, spec: object) -> list[tuple[str, str]]:
    """(field, path) of the local files a dataset spec reads."""
    out: list[tuple[str, str]] = []
    kind = getattr(spec, "type", None)
    if kind in ("jsonl", "parquet", "verl"):
        out.append((f"data.{split}.{i}.path", spec.path))  # type: ignore[attr-defined]
    elif kind == "hf":
        name: str = spec.name  # type: ignore[attr-defined]
        if name.endswith(_DATA_SUFFIXES) or looks_local(name):
            out.append((f"data.{split}.{i}.name", name))
        files = spec.data_files  # type: ignore[attr-defined]
        listed = [files] if isinstance(files, str) else files if isinstance(files, list) else []
        out += [(f"data.{split}.{i}.data_files", f) for f in listed if "*" not in f and "://" not in f]
    return out


def _placeholder(path: str) -> bool:
    """``<train_dataset>``: rows the Python API writes into the run directory once it exists."""
    return path.startswith("<") and path.endswith(">")


def check_data(cfg: RunConfig, command: Command) -> list[str]:
    """The data files exist, and the command has the data it needs."""
    problems = [
        f"{field}: {path} does not exist"
        for split in ("train", "eval", "sft")
        for i, spec in enumerate(getattr(cfg.data, split))
        for field, path in _spec_paths(split, i, spec)
        if not _placeholder(path) and not Path(path).expanduser().exists()
    ]
    if cfg.data.logged and not Path(cfg.data.logged).exists():
        problems.append(f"data.logged: {cfg.data.logged} does not exist")
    if command == "train" and not cfg.data.train and not cfg.data.logged:
        problems.append("data.train: empty; an RL run needs prompts (a dataset spec) or data.logged rollouts")
    if command == "eval" and not cfg.data.eval:
        problems.append("data.eval: empty; give the recipe held-out datasets to evaluate on")
    if command == "pseudo-label" and not cfg.data.train:
        problems.append("data.train: empty; pseudo-labelling relabels the training prompts")
    if command == "sft" and not cfg.data.sft and not cfg.data.train:
        problems.append("data.sft: empty (and so is data.train); SFT needs rows with a 'response'")
    return problems


def check_server(url: str | None, timeout_s: float = 5.0) -> list[str]:
    """A configured reward server answers ``GET /health``."""
    if not url:
        return []
    if not url.startswith(("http://", "https://")):
        return [f"reward.server_url: {url!r} must start with http:// or https://"]
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout_s) as resp:
            json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return [
            f"reward.server_url: no reward server answers at {url} ({reason}); start one with "
            "`rlvr serve-rewards --port PORT`, or remove reward.server_url to score in this process"
        ]
    return []


def preflight(cfg: RunConfig, command: Command, model: str | None = None) -> None:
    """Raise :class:`PreflightError` listing every problem that would stop ``command`` from running.

    ``model`` is a model given outside the config (``rlvr eval --model``)."""
    problems = check_model_path(model, "--model") if model else check_model_path(cfg.model.path)
    problems += check_data(cfg, command)
    problems += check_server(cfg.reward.server_url)
    if problems:
        raise PreflightError("cannot start:\n" + "\n".join(f"  {p}" for p in problems))
