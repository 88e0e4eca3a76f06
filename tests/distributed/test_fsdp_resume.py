"""A run with learner.world_size: 2 (two FSDP2 learner actors on a local Ray instance) killed with SIGKILL
after a checkpoint and resumed ends with the weights and metrics of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ray", reason="backend: ray needs Ray: pip install 'rlvr[ray]'")

from rlvr.cli import main  # noqa: E402
from tests.training.killing import (  # noqa: E402
    KillAfterCheckpoint,
    assert_same_weights,
    complete_steps,
    recipe_file,
    start_train,
)
from tests.training.test_checkpoint import untimed_metrics  # noqa: E402
from tests.training.test_resume import DATA  # noqa: E402

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]  # ~3 min: three Ray runs

STEPS = 5
SHARDED = [
    *("backend=ray", "ray.num_cpus=2", "ray.reward_workers=0", "ray.init_timeout_s=300"),
    *("learner.world_size=2", "ray.learner_cpus=0.5", "ray.rollout_cpus=0.5", "algorithm.kl_coef=0.01"),
]


def _recipe(tmp_path: Path) -> Path:
    return recipe_file(
        tmp_path, f"trainer.steps={STEPS}", "trainer.save_every=1", "data.eval=[]", DATA, *SHARDED
    )


def test_a_sharded_run_killed_after_a_checkpoint_resumes_to_the_same_weights_and_metrics(tmp_path):
    recipe = _recipe(tmp_path)
    run = tmp_path / "killed"
    victim = start_train(tmp_path, str(recipe), "trainer.run_name=killed", delay_s=0.02)
    KillAfterCheckpoint(run, victim, 2, then_s=0.1).join(stderr=tmp_path / "stderr.txt")
    killed_at = max(complete_steps(run))
    assert 2 <= killed_at < STEPS
    assert (run / "checkpoints" / f"step-{killed_at:04d}" / "dcp" / ".metadata").is_file()

    assert main(["--quiet", "train", str(recipe), "trainer.run_name=killed", "--resume", str(run)]) == 0
    assert main(["--quiet", "train", str(recipe), "trainer.run_name=full"]) == 0
    assert_same_weights(tmp_path / "full/final/model.safetensors", run / "final/model.safetensors", atol=1e-6)
    assert untimed_metrics(run) == untimed_metrics(tmp_path / "full")
    assert not list(run.glob("checkpoints/.*")), "no temporary directory is left"
