"""Metric sinks: every tracker records the same numbers as metrics.jsonl, read back from its own files."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from rlvr.tracking.config import TrackingConfig
from rlvr.tracking.logger import read_metrics
from rlvr.tracking.sinks import JsonlSink, MultiSink, Sink, build_sinks
from rlvr.tracking.trackers import mlflow_key

STEPS = {
    1: {"reward/all/reward_mean": 0.25, "train/kl_loss": 0.01, "eval/all/pass@4": 0.5, "note": "text"},
    2: {"reward/all/reward_mean": 0.5, "train/kl_loss": 0.02, "eval/all/pass@4": 0.75},
    3: {"reward/all/reward_mean": 0.75, "train/kl_loss": 0.03, "perf/gen_tokens": 512},
}
CONFIG = {"name": "demo", "trainer": {"lr": 1e-5, "steps": 3}, "data": {"train": [{"path": "x.jsonl"}]}}


def expected() -> dict[str, list[tuple[int, float]]]:
    """{metric: [(step, value)]} of the numeric metrics in STEPS."""
    out: dict[str, list[tuple[int, float]]] = {}
    for step, metrics in STEPS.items():
        for key, value in metrics.items():
            if isinstance(value, int | float):
                out.setdefault(key, []).append((step, float(value)))
    return out


def assert_points(got: list[tuple[int, float]], want: list[tuple[int, float]], key: str) -> None:
    assert [s for s, _ in got] == [s for s, _ in want], key
    assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6), key  # TensorBoard: float32


def log_steps(cfg: TrackingConfig, run_dir: Path) -> None:
    with build_sinks(cfg, run_dir, "demo-run", CONFIG) as sinks:
        for step, metrics in STEPS.items():
            sinks.log(step, metrics)


def test_jsonl_only_by_default(tmp_path: Path):
    log_steps(TrackingConfig(), tmp_path)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[0]["note"] == "text" and rows[2]["perf/gen_tokens"] == 512
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]
    assert isinstance(JsonlSink(tmp_path, "x.jsonl"), Sink)


def test_multisink_closes_every_sink_then_raises():
    closed = []

    class Broken:
        def log(self, step, metrics): ...

        def close(self):
            closed.append("broken")
            raise OSError("disk full")

    class Fine(Broken):
        def close(self):
            closed.append("fine")

    with pytest.raises(OSError, match="disk full"):
        MultiSink([Broken(), Fine()]).close()
    assert closed == ["broken", "fine"]


def test_config_validation():
    with pytest.raises(ValidationError, match="tensorboard"):
        TrackingConfig(trackers=["tensorbord"])
    with pytest.raises(ValidationError, match="more than once"):
        TrackingConfig(trackers=["wandb", "wandb"])
    with pytest.raises(ValidationError, match="extra"):
        TrackingConfig(wandb_projekt="x")


@pytest.mark.parametrize(
    ("tracker", "module", "package"),
    [
        ("tensorboard", "tensorboard", "tensorboard"),
        ("wandb", "wandb", "wandb"),
        ("mlflow", "mlflow", "mlflow-skinny"),
    ],
)
def test_missing_package_names_the_pip_package(tmp_path: Path, monkeypatch, tracker, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=f"pip install {package}"):
        build_sinks(TrackingConfig(trackers=[tracker]), tmp_path, "r")


def test_mlflow_key():
    assert mlflow_key("eval/gsm8k/pass@4") == "eval/gsm8k/pass_at_4"
    assert mlflow_key("reward/data_source/a+b/accuracy") == "reward/data_source/a_b/accuracy"


# ---- TensorBoard --------------------------------------------------------------------------------
def test_tensorboard(tmp_path: Path):
    pytest.importorskip("tensorboard", reason="pip install tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_steps(TrackingConfig(trackers=["tensorboard"]), tmp_path)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == set(expected())
    for key, points in expected().items():
        assert_points([(e.step, e.value) for e in events.Scalars(key)], points, key)
    assert "config/text_summary" in events.Tags()["tensors"]


# ---- MLflow -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables made; copying it saves each test the (slow) migrations."""
    pytest.importorskip("mlflow", reason="pip install mlflow-skinny")
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.mark.parametrize("store", ["default", "sqlite", "file"])
def test_mlflow(tmp_path: Path, store: str, empty_mlflow_db: Path):
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(empty_mlflow_db, run_dir / "mlflow.db")  # the default store
    shutil.copy(empty_mlflow_db, tmp_path / "shared.db")
    uri = {
        "default": None,
        "sqlite": f"sqlite:///{tmp_path / 'shared.db'}",
        "file": (tmp_path / "mlruns").as_uri(),
    }[store]
    log_steps(TrackingConfig(trackers=["mlflow"], mlflow_tracking_uri=uri), run_dir)
    client = MlflowClient(uri or f"sqlite:///{run_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")  # the run config's name
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "demo-run" and run.info.status == "FINISHED"
    assert (
        run.data.params["trainer.lr"] == "1e-05" and run.data.params["data.train"] == '[{"path": "x.jsonl"}]'
    )
    assert set(run.data.metrics) == {mlflow_key(k) for k in expected()}
    for key, points in expected().items():
        history = sorted(
            (m.step, m.value) for m in client.get_metric_history(run.info.run_id, mlflow_key(key))
        )
        assert_points(history, points, key)
    assert (
        json.loads((run_dir / "tracking.json").read_text())["metrics.jsonl"]["mlflow_run_id"]
        == run.info.run_id
    )


def test_mlflow_resume_continues_the_run(tmp_path: Path, empty_mlflow_db: Path):
    from mlflow.tracking import MlflowClient

    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    cfg = TrackingConfig(trackers=["mlflow"])
    log_steps(cfg, tmp_path)
    with build_sinks(cfg, tmp_path, "demo-run", {**CONFIG, "trainer": {"lr": 1e-5, "steps": 6}}) as sinks:
        sinks.log(4, {"reward/all/reward_mean": 1.0})
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.get_experiment_by_name("demo").experiment_id
    (run,) = client.search_runs([experiment_id])
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "reward/all/reward_mean")]
    assert sorted(steps) == [1, 2, 3, 4]
    assert run.data.params["trainer.steps"] == "3"  # params keep the values the run started with

    with build_sinks(cfg, tmp_path, "demo-sft", CONFIG, filename="sft_metrics.jsonl") as sinks:
        sinks.log(1, {"sft/loss": 2.0})  # another metrics file in the same directory: its own run
    assert len(client.search_runs([experiment_id])) == 2


# ---- Weights & Biases ---------------------------------------------------------------------------
def wandb_records(path: Path):
    """Records of a W&B ``.wandb`` file: a 7-byte header (':W&B', magic, version), then a LevelDB-style log
    in 32 KiB blocks of chunks (crc32, length, type: 1 full, 2 first, 3 middle, 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, chunks = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        chunks, pos = chunks + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            yield record
            chunks = b""


def test_wandb_offline(tmp_path: Path, monkeypatch):
    wandb = pytest.importorskip("wandb", reason="pip install wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    log_steps(TrackingConfig(trackers=["wandb"]), tmp_path)
    wandb.teardown()  # run.finish() can return before wandb-core's writer has flushed the .wandb file
    run_id = json.loads((tmp_path / "tracking.json").read_text())["metrics.jsonl"]["wandb_run_id"]
    (run_file,) = (tmp_path / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb")

    history: dict[str, list[tuple[int, float]]] = {}
    config = {}
    for record in wandb_records(run_file):
        if record.WhichOneof("record_type") == "history":
            items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            for key, value in items.items():
                if not key.startswith("_"):
                    history.setdefault(key, []).append((items["_step"], value))
        elif record.WhichOneof("record_type") == "run":
            config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
    assert history == expected()
    assert config["trainer"]["lr"] == 1e-5 and config["name"] == "demo"
