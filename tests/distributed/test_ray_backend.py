"""backend: ray on a local 2-CPU Ray instance: the same curve as the local backend, and dead actors."""

import pytest
import torch

ray = pytest.importorskip("ray", reason="backend: ray needs Ray: pip install 'rlvr[ray]'")

from rlvr.tracking.logger import read_metrics  # noqa: E402
from rlvr.training.checkpoint import latest_checkpoint  # noqa: E402
from tests.training.helpers import make_trainer, model_of, tiny_recipe, use_verifier  # noqa: E402

pytestmark = pytest.mark.timeout(600)

RAY = ["backend=ray", "ray.num_cpus=2", "ray.reward_workers=1", "ray.init_timeout_s=300"]


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """One Ray instance for the module (starting one takes seconds); runs attach to it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _trainer(tmp_path, *overrides):
    trainer = make_trainer(tiny_recipe(tmp_path, *overrides), show_progress=False)
    use_verifier(trainer, "digit_fraction")
    return trainer


def _curve(trainer):
    rows = read_metrics(trainer.run_dir / "metrics.jsonl")
    return [r["reward/all/reward_mean"] for r in rows if "reward/all/reward_mean" in r]


def test_ray_backend_follows_the_local_curve(tmp_path):
    """One rollout worker draws the same random numbers as the local engine, and weights travel exactly:
    the two runs see the same rewards and end with the same weights."""
    local = _trainer(tmp_path / "local", "trainer.steps=4")
    local.fit()
    local.close()
    remote = _trainer(tmp_path / "ray", "trainer.steps=4", *RAY)
    remote.fit()
    remote.close()
    a, b = _curve(local), _curve(remote)
    assert len(a) == len(b) == 4
    assert b == pytest.approx(a, abs=1e-6), (a, b)
    final = latest_checkpoint(remote.run_dir)
    assert final is not None and final.state.step == 4
    local_weights = model_of(local).state_dict()
    for key, value in final.weights.items():  # (tied weights are saved once)
        torch.testing.assert_close(value, local_weights[key], rtol=0, atol=1e-5)


def _kill_rollout_actor_at(trainer, step: int) -> list[int]:
    """Kill the rollout actor (as a crash would: Ray may restart it) when step ``step`` starts collecting."""
    original, killed = trainer._pipeline.collect, []

    def collect(step_index):
        if step_index == step - 1 and not killed:
            ray.kill(trainer.roles.rollout.workers[0].actor, no_restart=False)
            killed.append(step)
        return original(step_index)

    trainer._pipeline.collect = collect
    return killed


def test_a_killed_rollout_actor_is_restarted_and_the_run_goes_on(tmp_path):
    trainer = _trainer(tmp_path, "trainer.steps=4", "ray.max_restarts=1", *RAY)
    killed = _kill_rollout_actor_at(trainer, 2)
    final = trainer.fit()
    trainer.close()
    assert killed == [2]
    assert trainer.failed is None and final, "the run must finish and evaluate"
    assert trainer.roles.rollout.workers[0].restarts_seen == 1
    rows = [r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "train/pg_loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    # the restarted worker sampled with the learner's current weights, not its freshly loaded ones
    assert [r["async/policy_version"] for r in rows] == [0.0, 1.0, 2.0, 3.0]


def test_a_rollout_actor_dead_beyond_its_restarts_stops_the_run_with_a_checkpoint(tmp_path):
    trainer = _trainer(tmp_path, "trainer.steps=4", "ray.max_restarts=0", *RAY)
    _kill_rollout_actor_at(trainer, 3)
    assert trainer.fit() == {}
    trainer.close()
    assert (
        trainer.failed is not None and "rollout-0" in trainer.failed and "no restarts left" in trainer.failed
    )
    assert trainer.step == 2
    ckpt = latest_checkpoint(trainer.run_dir)
    assert ckpt is not None and ckpt.state.step == 2, "the learner is alive: the run checkpoints what it has"
    # and the run continues from there (here on the local backend: placement may change on resume)
    resumed = _trainer(tmp_path, "trainer.steps=4", f"trainer.resume={trainer.run_dir}")
    assert resumed.step == 2
    resumed.fit()
    resumed.close()
    assert latest_checkpoint(resumed.run_dir).state.step == 4
