"""Checkpoints: round trip, atomicity, corruption fallback, rotation, refusing a changed run, NaN stops."""

import json
import logging
import random
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rlvr.tracking.logger import read_metrics, truncate_logs
from rlvr.training import checkpoint
from rlvr.training.checkpoint import ResumeError, config_diff, rng_state, verify
from rlvr.training.trainer import NonFiniteError, RLTrainer

from .helpers import engine_of, learner_of, make_trainer, model_of, tiny_recipe, use_verifier


def _trainer(tmp_path, *overrides: str) -> RLTrainer:
    cfg = tiny_recipe(tmp_path, "data.eval=[]", "trainer.save_every=1", *overrides)
    trainer = make_trainer(cfg, show_progress=False)
    use_verifier(trainer, "digit_fraction")  # rewards vary, so every step changes the weights
    return trainer


def _run(tmp_path, *overrides: str) -> RLTrainer:
    trainer = _trainer(tmp_path, *overrides)
    trainer.fit()
    trainer.close()
    return trainer


def _ckpts(run_dir) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir())


def untimed_metrics(run_dir) -> list[dict]:
    """metrics.jsonl without timings (perf/*, reward latencies), which differ from run to run."""
    rows = read_metrics(run_dir / "metrics.jsonl")
    return [{k: v for k, v in r.items() if not (k.startswith("perf/") or "latency" in k)} for r in rows]


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            _assert_same_tensors(a[key], b[key])
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def test_round_trip_restores_every_piece_of_state(tmp_path):
    a = _run(tmp_path, "trainer.steps=2")
    rng = rng_state(
        [engine_of(a).generator.get_state()]
    )  # fit ends with the checkpoint of step 2; nothing draws after it
    random.random(), np.random.rand(), torch.rand(1)  # move the streams on: restoring must put them back
    b = _trainer(tmp_path, "trainer.steps=2", f"trainer.resume={a.run_dir}")
    assert (b.step, b.run_dir, b.last_checkpoint) == (2, a.run_dir, a.run_dir / "checkpoints" / "step-0002")
    _assert_same_tensors(model_of(a).state_dict(), model_of(b).state_dict())
    _assert_same_tensors(
        learner_of(a).optimizer.state_dict()["state"], learner_of(b).optimizer.state_dict()["state"]
    )
    assert (
        learner_of(a).optimizer.state_dict()["param_groups"]
        == learner_of(b).optimizer.state_dict()["param_groups"]
    )
    assert learner_of(a).scheduler.state_dict() == learner_of(b).scheduler.state_dict()
    assert a.sampler.state_dict() == b.sampler.state_dict()
    now = rng_state([engine_of(b).generator.get_state()])
    assert torch.equal(rng["torch"], now["torch"]) and torch.equal(rng["engines"][0], now["engines"][0])
    assert rng["python"] == now["python"] and rng["numpy"] == now["numpy"]
    files = json.loads((b.last_checkpoint / "manifest.json").read_text())["files"]
    for name in [
        "model.safetensors",
        "tokenizer.json",
        "optimizer.pt",
        "scheduler.pt",
        "rng.pt",
        "config.yaml",
    ]:
        assert name in files, name
    b.close()


@pytest.mark.parametrize("lora", [False, True])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, lora):
    extra = ["model.lora={r: 4, alpha: 8}", "optim.lr=1e-2"] if lora else []
    full = _run(tmp_path / "full", "trainer.steps=4", *extra)
    _run(tmp_path / "cut", "trainer.steps=2", "trainer.run_name=cut", *extra)
    resumed = _run(tmp_path / "cut", "trainer.steps=4", "trainer.run_name=cut", "trainer.resume=auto", *extra)
    assert resumed.run_dir == tmp_path / "cut" / "cut"
    if lora:  # the checkpoint holds only the adapter
        assert (resumed.last_checkpoint / "adapter_model.safetensors").exists()
        assert not (resumed.last_checkpoint / "model.safetensors").exists()
    for key, value in model_of(full).state_dict().items():
        torch.testing.assert_close(model_of(resumed).state_dict()[key], value, rtol=0, atol=1e-6)

    assert untimed_metrics(resumed.run_dir) == untimed_metrics(full.run_dir)


def test_a_crash_mid_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch, caplog):
    run = _run(tmp_path, "trainer.steps=1").run_dir
    trainer = _trainer(tmp_path, "trainer.steps=2", f"trainer.resume={run}")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_write_manifest", crash)  # every file written, the manifest not
    trainer.step = 2
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint()
    trainer.close()
    assert _ckpts(run) == ["step-0001"], "a failed write leaves no directory behind"
    # What a SIGKILL mid-write would leave: a temporary directory, and a step directory with no manifest.
    shutil.copytree(run / "checkpoints" / "step-0001", run / "checkpoints" / ".tmp-step-0002-999999")
    shutil.copytree(run / "checkpoints" / "step-0001", run / "checkpoints" / "step-0003")
    (run / "checkpoints" / "step-0003" / "manifest.json").unlink()
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING):
        resumed = _trainer(tmp_path, "trainer.steps=2", f"trainer.resume={run}")
    assert resumed.step == 1
    assert "step-0003" in caplog.text and "no manifest.json" in caplog.text
    resumed.fit()
    resumed.close()
    assert _ckpts(run) == ["step-0001", "step-0002"], "stale temporary directories are cleaned"
    assert verify(run / "checkpoints" / "step-0002") is None


def _flip_byte(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_corrupt_checkpoint_is_skipped_for_the_previous_one(tmp_path, caplog):
    run = _run(tmp_path, "trainer.steps=3").run_dir
    step3, step2 = run / "checkpoints" / "step-0003", run / "checkpoints" / "step-0002"
    weights = step3 / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    _flip_byte(step2 / "optimizer.pt", 200)  # same size, flipped bits
    with caplog.at_level(logging.WARNING):
        resumed = _trainer(tmp_path, "trainer.steps=3", f"trainer.resume={run}")
    assert resumed.step == 1
    assert "step-0003" in caplog.text and "model.safetensors has" in caplog.text
    assert "step-0002" in caplog.text and "optimizer.pt does not match its sha256" in caplog.text
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1], (
        "rows after the checkpoint are dropped"
    )
    saved = load_file(run / "checkpoints" / "step-0001" / "model.safetensors")
    for key, value in saved.items():
        assert torch.equal(model_of(resumed).state_dict()[key], value)
    resumed.close()


def test_a_checkpoint_that_fails_to_load_is_skipped(tmp_path, caplog):
    run = _run(tmp_path, "trainer.steps=2").run_dir
    step2 = run / "checkpoints" / "step-0002"
    (step2 / "rng.pt").write_bytes(b"not a torch file")
    manifest = json.loads((step2 / "manifest.json").read_text())
    manifest["files"]["rng.pt"] = {"size": 16, "sha256": checkpoint._sha256(step2 / "rng.pt")}
    (step2 / "manifest.json").write_text(json.dumps(manifest))  # consistent manifest, unloadable file
    with pytest.raises(ResumeError, match="failed to load"):  # named explicitly, it is an error
        _trainer(tmp_path, f"trainer.resume={step2}")
    with caplog.at_level(logging.WARNING):
        resumed = _trainer(tmp_path, "trainer.steps=2", f"trainer.resume={run}")
    assert resumed.step == 1 and "step-0002 failed to load: UnpicklingError" in caplog.text
    resumed.close()


def test_keep_last_rotates_old_checkpoints(tmp_path):
    run = _run(tmp_path, "trainer.steps=5", "trainer.keep_last=2").run_dir
    assert _ckpts(run) == ["step-0004", "step-0005"]
    run = _run(tmp_path, "trainer.steps=3", "trainer.keep_last=0", "trainer.save_every=0").run_dir
    assert _ckpts(run) == ["step-0003"], "save_every=0 still checkpoints at exit"


def test_changed_math_or_data_is_refused_unless_forced(tmp_path, caplog):
    run = _run(tmp_path, "trainer.steps=1").run_dir
    with pytest.raises(ResumeError) as err:
        _trainer(tmp_path, f"trainer.resume={run}", "optim.lr=0.002", "rollout.temperature=0.5")
    assert "optim.lr: 0.001 -> 0.002" in str(err.value) and "rollout.temperature: 1.0 -> 0.5" in str(
        err.value
    )
    assert "--force-resume" in str(err.value)
    with pytest.raises(ResumeError, match="training data: fingerprint"):
        _trainer(tmp_path, f"trainer.resume={run}", "data.train.0.seed=3")
    # fields that do not change the math may change
    ok = _trainer(
        tmp_path, f"trainer.resume={run}", "trainer.steps=5", "trainer.log_every=2", "reward.workers=0"
    )
    assert ok.step == 1
    ok.close()
    with caplog.at_level(logging.WARNING):
        forced = _trainer(tmp_path, f"trainer.resume={run}", "optim.lr=0.002", "trainer.resume_force=true")
    assert forced.step == 1 and "optim.lr: 0.001 -> 0.002" in caplog.text and "resuming anyway" in caplog.text
    forced.close()


def test_steps_may_change_only_under_a_constant_schedule():
    old = {"optim": {"schedule": "constant", "lr": 1.0}, "trainer": {"steps": 10, "save_every": 1}}
    longer = {"optim": {"schedule": "constant", "lr": 1.0}, "trainer": {"steps": 20, "save_every": 5}}
    assert config_diff(old, longer) == []
    old["optim"]["schedule"] = longer["optim"]["schedule"] = "cosine"
    assert config_diff(old, longer) == ["trainer.steps: 10 -> 20"]


def test_truncate_logs_drops_what_came_after_the_checkpoint(tmp_path):
    def write(name, steps, tail=""):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(json.dumps({"step": s, "x": 1.0}) + "\n" for s in steps) + tail)

    write("metrics.jsonl", [1, 2, 3, 4], tail='{"step": 5, "x"')  # the kill tore the last line
    write("samples/step-000002.jsonl", [2, 2])
    write("samples/step-000004.jsonl", [4, 4])
    write("sft_metrics.jsonl", range(1, 11))  # another phase's steps: not the RL loop's
    truncate_logs(tmp_path, 2)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step-000002.jsonl"]
    assert len(read_metrics(tmp_path / "sft_metrics.jsonl")) == 10


def test_resume_errors_name_the_problem(tmp_path):
    with pytest.raises(ResumeError, match="no such run"):
        _trainer(tmp_path, f"trainer.resume={tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResumeError, match="no complete checkpoint"):
        _trainer(tmp_path, f"trainer.resume={tmp_path / 'empty'}")
    fresh = _trainer(tmp_path, "trainer.resume=auto")  # nothing to resume: a new run
    assert fresh.step == 0
    fresh.close()


def test_nonfinite_updates_are_skipped_counted_and_stop_with_a_checkpoint(tmp_path):
    trainer = _trainer(tmp_path, "trainer.steps=6", "trainer.max_nonfinite_steps=2", "trainer.save_every=0")
    policy_loss, last_good = learner_of(trainer).policy_loss, {}

    def nan_after_step_1(logp, *args, **kwargs):
        loss, metrics = policy_loss(logp, *args, **kwargs)
        if trainer.step == 0:
            return loss, metrics
        last_good.setdefault("weights", {k: v.clone() for k, v in model_of(trainer).state_dict().items()})
        return loss * float("nan"), metrics

    learner_of(trainer).policy_loss = nan_after_step_1
    with pytest.raises(NonFiniteError, match="2 consecutive steps") as err:
        trainer.fit()
    trainer.close()
    ckpt = trainer.run_dir / "checkpoints" / "step-0003"
    assert str(ckpt) in str(err.value) and "last good" in str(err.value)
    rows = read_metrics(trainer.run_dir / "metrics.jsonl")
    assert [r["train/skipped_updates"] for r in rows] == [0.0, 1.0, 1.0]
    assert verify(ckpt) is None and (trainer.run_dir / "last-good" / "model.safetensors").exists()
    assert json.loads((ckpt / "trainer_state.json").read_text())["counters"] == {"nonfinite_streak": 2}
    saved = load_file(ckpt / "model.safetensors")
    for key, value in saved.items():
        assert torch.equal(value, last_good["weights"][key]), (
            "the checkpoint holds the weights before the NaNs"
        )
