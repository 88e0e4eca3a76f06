"""Metric sinks: where each step's metrics go. metrics.jsonl always; TensorBoard, W&B and MLflow on request.

```
sinks = build_sinks(cfg.tracking, run_dir, run_dir.name, cfg.model_dump(mode="json"))
sinks.log(step, {"reward/all/reward_mean": 0.5, ...})
sinks.close()
```

A sink is anything with ``log(step, metrics)`` and ``close()``. The optional trackers import their package
only when built, and name the pip package when it is missing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rlvr.tracking.config import TrackingConfig
from rlvr.tracking.logger import MetricsLogger
from rlvr.tracking.trackers import MLflowSink, TensorBoardSink, WandbSink

STATE_FILE = "tracking.json"
"""Tracker run ids per metrics file, kept in the run directory so that a resumed run continues the same
tracker runs: ``{"metrics.jsonl": {"wandb_run_id": ..., "mlflow_run_id": ...}}``."""


@runtime_checkable
class Sink(Protocol):
    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record ``metrics`` at training step ``step``."""

    def close(self) -> None:
        """Flush and release the sink; it takes no more calls."""


class JsonlSink(MetricsLogger):
    """``{"step": n, **metrics}`` per line of ``<run_dir>/metrics.jsonl``, flushed at once (see MetricsLogger)."""


class MultiSink:
    """Fans each call out to several sinks. ``close()`` closes every sink, then raises the first error."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for sink in self.sinks:
            sink.log(step, dict(metrics))

    def close(self) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:  # close the others before reporting it
                errors.append(e)
        if errors:
            raise errors[0]

    def __enter__(self) -> MultiSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_state(run_dir: Path) -> dict[str, dict[str, str]]:
    path = run_dir / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write_state(run_dir: Path, state: dict[str, dict[str, str]]) -> None:
    (run_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def _tensorboard(cfg: TrackingConfig, run_dir: Path, run_name: str, config: dict, state: dict) -> Sink:
    return TensorBoardSink(run_dir / "tensorboard", config)


def _wandb(cfg: TrackingConfig, run_dir: Path, run_name: str, config: dict, state: dict) -> Sink:
    sink = WandbSink(
        run_dir,
        project=cfg.wandb_project,
        entity=cfg.wandb_entity,
        mode=cfg.wandb_mode,
        run_name=run_name,
        group=_experiment(cfg, config),
        config=config,
        run_id=state.get("wandb_run_id"),
    )
    state["wandb_run_id"] = sink.run_id
    return sink


def _mlflow(cfg: TrackingConfig, run_dir: Path, run_name: str, config: dict, state: dict) -> Sink:
    default_store = cfg.mlflow_tracking_uri is None
    sink = MLflowSink(
        cfg.mlflow_tracking_uri or f"sqlite:///{run_dir.resolve() / 'mlflow.db'}",
        experiment_name=_experiment(cfg, config),
        run_name=run_name,
        config=config,
        artifact_location=(run_dir.resolve() / "mlartifacts").as_uri() if default_store else None,
        run_id=state.get("mlflow_run_id"),
    )
    state["mlflow_run_id"] = sink.run_id
    return sink


_BUILDERS: dict[str, Callable[..., Sink]] = {"tensorboard": _tensorboard, "wandb": _wandb, "mlflow": _mlflow}


def _experiment(cfg: TrackingConfig, config: Mapping[str, Any]) -> str:
    return cfg.experiment_name or str(config.get("name") or "rlvr")


def build_sinks(
    cfg: TrackingConfig,
    run_dir: str | Path,
    run_name: str,
    config_dict: dict[str, Any] | None = None,
    filename: str = "metrics.jsonl",
) -> MultiSink:
    """The JSONL sink (``<run_dir>/<filename>``) plus each tracker in ``cfg.trackers``.

    ``config_dict`` (the run config as plain data) is recorded by each tracker: W&B config, MLflow params,
    a TensorBoard text summary. Tracker run ids are kept in ``<run_dir>/tracking.json``: building the sinks
    again for the same directory (a resumed run) continues the same W&B and MLflow runs.
    """
    run_dir = Path(run_dir)
    config = config_dict or {}
    all_state = _read_state(run_dir)
    state = all_state.setdefault(filename, {})  # an SFT stage and the RL run in one directory: two runs
    sinks: list[Sink] = [JsonlSink(run_dir, filename)]
    try:
        for name in cfg.trackers:
            sinks.append(_BUILDERS[name](cfg, run_dir, run_name, config, state))
    except BaseException:
        with contextlib.suppress(Exception):  # keep the error that stopped the build
            MultiSink(sinks).close()
        raise
    if cfg.trackers:
        _write_state(run_dir, all_state)
    return MultiSink(sinks)
