"""Which experiment trackers a run writes to, beside the metrics.jsonl that it always writes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

Tracker = Literal["tensorboard", "wandb", "mlflow"]


class TrackingConfig(BaseModel):
    """Optional metric trackers. Each needs its pip package (``pip install 'rlvr[trackers]'``)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    trackers: list[Tracker] = []
    """Trackers to log to, beside the always-written metrics.jsonl: 'tensorboard' (event files in
    <run_dir>/tensorboard), 'wandb' (Weights & Biases; files in <run_dir>/wandb), 'mlflow'."""
    experiment_name: str | None = None
    """MLflow experiment and W&B group. None: the run config's `name`."""
    wandb_project: str = "rlvr"
    """W&B project to log to."""
    wandb_entity: str | None = None
    """W&B entity (user or team). None: the default of the logged-in account."""
    wandb_mode: Literal["offline", "online", "disabled"] = "offline"
    """'offline' writes the run under <run_dir>/wandb, needs no network, and can be uploaded later with
    `wandb sync`; 'online' streams to the W&B server; 'disabled' makes every W&B call a no-op."""
    mlflow_tracking_uri: str | None = None
    """MLflow tracking store, e.g. 'sqlite:///runs/mlflow.db', 'file:/abs/mlruns' or 'http://host:5000'.
    None: a SQLite store at <run_dir>/mlflow.db (MLflow's recommended local backend)."""

    @field_validator("trackers")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        repeated = sorted({t for t in value if value.count(t) > 1})
        if repeated:
            raise ValueError(f"trackers lists {repeated} more than once")
        return value
