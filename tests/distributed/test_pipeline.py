"""k-step-off asynchronous training: the pipeline's ordering, staleness, importance weights, resume."""

import os
import signal
import threading

import torch

from rlvr.tracking.logger import read_metrics
from rlvr.training.collect import RolloutBatch
from rlvr.training.pipeline import RolloutPipeline
from rlvr.training.trainer import ROLE_TIMINGS
from tests.training.helpers import engine_of, make_trainer, model_of, tiny_recipe, use_verifier


class _FakeRoles:
    """A rollout pool whose batches record the weight version they were sampled with."""

    def __init__(self) -> None:
        self.version = 0
        self.events: list[str] = []
        self.rollout = self.learner = self
        self.shares_learner_model = False

    def weights(self):
        return {"w": torch.zeros(1)}

    def sync(self, weights, version) -> float:
        self.events.append(f"sync{version}")
        self.version = version
        return 0.0


def _run_pipeline(depth: int, steps: int):
    roles = _FakeRoles()

    def collect(index):
        roles.events.append(f"collect{index}")
        return RolloutBatch(), {"async/policy_version": float(roles.version)}

    pipe = RolloutPipeline(collect, depth, snapshot=lambda: None)
    staleness = []
    for step in range(steps):
        _, perf = pipe.next_batch(step, steps)
        staleness.append(step - perf["async/policy_version"])
        pipe.send_weights(roles, step + 1)  # the update of this step is done
    pipe.stop()
    return staleness, roles.events


def test_synchronous_pipeline_is_on_policy():
    staleness, events = _run_pipeline(depth=0, steps=4)
    assert staleness == [0, 0, 0, 0]
    assert events == ["collect0", "sync1", "collect1", "sync2", "collect2", "sync3", "collect3", "sync4"]


def test_one_step_off_is_exactly_one_update_stale():
    staleness, events = _run_pipeline(depth=1, steps=5)
    assert staleness == [0, 1, 1, 1, 1]
    # batch k+1 is queued before update k, and each sync is queued behind it
    assert events[:6] == ["collect0", "collect1", "sync1", "collect2", "sync2", "collect3"]


def test_staleness_never_exceeds_the_bound():
    staleness, _ = _run_pipeline(depth=3, steps=8)
    assert max(staleness) == 3 and staleness[:4] == [0, 1, 2, 3]


def test_stopping_drops_the_batches_in_flight_but_not_the_weight_syncs_queued():
    """Two steps off, stop() while sync 1 is held back on the rollout thread: collection 3, queued behind
    it, never runs; sync 2, queued behind that, still does, so the rollout workers end with the last
    update's weights (the final evaluation samples with them)."""
    roles = _FakeRoles()
    release = threading.Event()
    sync = roles.sync

    def held_sync(weights, version):
        if version == 1:
            release.wait(10)
        return sync(weights, version)

    def collect(index):
        roles.events.append(f"collect{index}")
        return RolloutBatch(), {"async/policy_version": float(roles.version)}

    roles.sync = held_sync
    pipe = RolloutPipeline(collect, 2, snapshot=lambda: None)
    for step in range(2):  # queue: collect 0-2, sync 1, collect 3, sync 2
        pipe.next_batch(step, 5)
        pipe.send_weights(roles, step + 1)
    threading.Timer(0.2, release.set).start()
    pipe.stop()
    assert roles.events == ["collect0", "collect1", "collect2", "sync1", "sync2"] and roles.version == 2


def _async(tmp_path, *overrides):
    cfg = tiny_recipe(tmp_path, "trainer.max_staleness=1", "algorithm.tis_cap=2.0", *overrides)
    trainer = make_trainer(cfg, show_progress=False)
    use_verifier(trainer, "digit_fraction")
    return trainer


def test_one_step_off_trains_with_importance_weights_and_per_role_timings(tmp_path):
    trainer = _async(tmp_path, "trainer.steps=4")
    trainer.fit()
    trainer.close()
    rows = [r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "train/pg_loss" in r]
    assert [r["async/staleness"] for r in rows] == [0.0, 1.0, 1.0, 1.0]
    assert rows[0]["train/tis_ratio_mean"] == 1.0  # the first batch is on-policy
    stale = rows[1:]
    assert all(r["train/tis_ratio_max"] > 1.0 for r in stale), "a stale batch has ratios away from 1"
    assert all(0.5 < r["train/tis_ratio_mean"] < 1.5 for r in stale)
    for key in ROLE_TIMINGS:
        assert all(f"perf/{key}" in r for r in rows), key
    # the rollout worker has its own copy of the weights, refreshed to the learner's after each update
    rollout_model = engine_of(trainer).model
    assert rollout_model is not model_of(trainer)
    for k, v in model_of(trainer).state_dict().items():
        torch.testing.assert_close(rollout_model.state_dict()[k], v, rtol=0, atol=0)


def test_an_interrupted_async_run_resumes_before_the_batch_in_flight(tmp_path):
    """Stopped after step 2 with batch 3 in flight: the checkpoint's sampler position is the one before
    batch 3's prompts, so the resumed run trains on the same prompts as an uninterrupted one."""
    trainer = _async(tmp_path, "trainer.steps=4")
    original = trainer.train_step

    def stop_after_two():
        metrics = original()
        if trainer.step == 1:  # the loop increments after train_step: this is step 2 finishing
            os.kill(os.getpid(), signal.SIGINT)
        return metrics

    trainer.train_step = stop_after_two
    assert trainer.fit() == {} and trainer.stopped_by == signal.SIGINT
    trainer.close()
    assert trainer.step == 2
    sync = make_trainer(tiny_recipe(tmp_path / "sync", "trainer.steps=2"), show_progress=False)
    use_verifier(sync, "digit_fraction")
    sync.fit()
    sync.close()
    resumed = _async(tmp_path, "trainer.steps=4", f"trainer.resume={trainer.run_dir}")
    assert resumed.step == 2
    assert resumed.sampler.state_dict() == sync.sampler.state_dict()
    resumed.fit()
    resumed.close()
    rows = read_metrics(resumed.run_dir / "metrics.jsonl")
    assert [r["step"] for r in rows if "train/pg_loss" in r] == [1, 2, 3, 4]
