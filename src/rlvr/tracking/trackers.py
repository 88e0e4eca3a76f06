"""The optional trackers: TensorBoard, Weights & Biases, MLflow. Each imports its package when built.

Every tracker gets the same numbers as metrics.jsonl, keyed by the same names, at the same step; values
that are not numbers are left to the JSONL file.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def require(module: str, package: str, tracker: str) -> Any:
    """Import ``module``, or fail with the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"tracking.trackers includes {tracker!r}, which needs the {package!r} package: "
            f"pip install {package}  (or: pip install 'rlvr[trackers]')"
        ) from e


def scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The entries that are numbers, as floats (bools count as 0/1)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


class TensorBoardSink:
    """Scalars in TensorBoard event files under ``log_dir``; the run config as a text summary."""

    def __init__(self, log_dir: str | Path, config: Mapping[str, Any] | None = None) -> None:
        require("tensorboard", "tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(log_dir))
        if config:
            text = yaml.safe_dump(dict(config), sort_keys=False)
            self._writer.add_text("config", "    " + text.replace("\n", "\n    "))  # markdown code block

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for key, value in scalars(metrics).items():
            self._writer.add_scalar(key, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class WandbSink:
    """A Weights & Biases run with its files in ``<run_dir>/wandb``. ``mode='offline'`` needs no network;
    upload later with ``wandb sync <run_dir>/wandb/offline-run-*``. ``run_id`` resumes that run."""

    def __init__(
        self,
        run_dir: str | Path,
        project: str,
        run_name: str,
        mode: str = "offline",
        entity: str | None = None,
        group: str | None = None,
        config: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> None:
        wandb = require("wandb", "wandb", "wandb")
        self._run = wandb.init(
            project=project,
            entity=entity,
            name=run_name,
            group=group,
            config=dict(config or {}),
            dir=str(run_dir),
            mode=mode,
            id=run_id,
            resume="allow" if run_id else None,
            settings=wandb.Settings(silent=True, console="off"),
        )
        self.run_id: str = self._run.id

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        self._run.log(scalars(metrics), step=step)

    def close(self) -> None:
        """Finish the run. wandb-core may still be writing the run's files when this returns; they are
        complete when the process exits (or after ``wandb.teardown()``)."""
        self._run.finish()


_MLFLOW_BAD_CHARS = re.compile(r"[^\w\-. :/]")


def mlflow_key(key: str) -> str:
    """MLflow allows only alphanumerics, ``_ - . : /`` and spaces in names: ``pass@1`` -> ``pass_at_1``."""
    return _MLFLOW_BAD_CHARS.sub("_", key.replace("@", "_at_"))


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[mlflow_key(f"{prefix}{key}")] = json.dumps(value) if not isinstance(value, str) else value
    return out


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class MLflowSink:
    """An MLflow run in ``tracking_uri`` (``sqlite:///...``, ``file:...``, ``http://...``); the run config
    flattened to params (``trainer.lr``); metric names made MLflow-safe by ``mlflow_key``."""

    def __init__(
        self,
        tracking_uri: str,
        experiment_name: str,
        run_name: str,
        config: Mapping[str, Any] | None = None,
        artifact_location: str | None = None,
        run_id: str | None = None,
    ) -> None:
        require("mlflow", "mlflow-skinny", "mlflow")
        if tracking_uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow >= 3.8 wants the opt-in
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri)
        resumed = self._resume(run_id)
        self.run_id = (
            self._start(experiment_name, run_name, artifact_location) if resumed is None else resumed
        )
        if resumed is None:  # params are immutable: a resumed run keeps the ones it started with
            params = [Param(k, v[:6000]) for k, v in _flatten(config or {}).items()]
            for chunk in _chunks(params, 100):  # MLflow takes at most 100 params per batch
                self._client.log_batch(self.run_id, params=chunk)

    def _resume(self, run_id: str | None) -> str | None:
        from mlflow.exceptions import MlflowException

        if run_id is None:
            return None
        try:
            self._client.get_run(run_id)
        except MlflowException:
            return None  # not in this store: start a new run
        self._client.update_run(run_id, status="RUNNING")
        return run_id

    def _start(self, experiment_name: str, run_name: str, artifact_location: str | None) -> str:
        experiment = self._client.get_experiment_by_name(experiment_name)
        if experiment is None:
            experiment_id = self._client.create_experiment(
                experiment_name, artifact_location=artifact_location
            )
        else:
            experiment_id = experiment.experiment_id
        return self._client.create_run(experiment_id, run_name=run_name).info.run_id

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(mlflow_key(k), v, now, step) for k, v in scalars(metrics).items()]
        for chunk in _chunks(batch, 1000):  # MLflow takes at most 1000 metrics per batch
            self._client.log_batch(self.run_id, metrics=chunk)

    def close(self) -> None:
        self._client.set_terminated(self.run_id, status="FINISHED")
