"""learner.world_size: 2 on a local 2-CPU Ray instance: two learner actors (gloo) sharding the policy with
FSDP2 follow the one-process run's rewards step for step, with the weights synced to the rollout actor in
buckets through the object store; the sharded learner's weights reach the rollout engine exactly."""

from __future__ import annotations

import pytest
import torch

ray = pytest.importorskip("ray", reason="backend: ray needs Ray: pip install 'rlvr[ray]'")

from safetensors.torch import load_file  # noqa: E402

from rlvr.tracking.logger import read_metrics  # noqa: E402
from tests.training.helpers import make_trainer, tiny_recipe, use_verifier  # noqa: E402

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]  # ~80 s: two Ray runs

STEPS = 4
RAY = ["backend=ray", "ray.num_cpus=2", "ray.reward_workers=0", "ray.init_timeout_s=300"]
SHARDED = [*RAY, "learner.world_size=2", "ray.learner_cpus=0.5", "ray.rollout_cpus=0.5"]
SAME = [f"trainer.steps={STEPS}", "model.num_threads=1", "algorithm.kl_coef=0.01", "optim.eps=1e-6"]


def _run(tmp_path, *overrides):
    trainer = make_trainer(tiny_recipe(tmp_path, *SAME, *overrides), show_progress=False)
    use_verifier(trainer, "digit_fraction")
    trainer.fit()
    trainer.close()
    rows = read_metrics(trainer.run_dir / "metrics.jsonl")
    curve = [r["reward/all/reward_mean"] for r in rows if "reward/all/reward_mean" in r]
    losses = [r["train/pg_loss"] for r in rows if "train/pg_loss" in r]
    return curve, losses, load_file(trainer.run_dir / "final" / "model.safetensors")


def test_two_learner_ranks_follow_the_one_process_run_step_for_step(tmp_path):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # bucket of 20 KiB: the ~60K-parameter model's weights go to the rollout actor in many pieces
        sharded = _run(tmp_path / "fsdp", *SHARDED, "learner.weight_sync_bucket_mb=0.02")
    finally:
        ray.shutdown()
    single = _run(tmp_path / "one")  # backend: local, one process
    assert len(sharded[0]) == len(single[0]) == STEPS
    assert sharded[0] == pytest.approx(single[0], abs=1e-6), (sharded[0], single[0])
    assert sharded[1] == pytest.approx(single[1], abs=1e-6)
    assert len(set(single[0])) > 1, "the rewards move"
    for key, value in single[2].items():
        torch.testing.assert_close(sharded[2][key], value, rtol=0, atol=1e-5, msg=key)
