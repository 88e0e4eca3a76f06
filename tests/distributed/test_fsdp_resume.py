"""A run with learner.world_size: 2 (two FSDP2 learner actors on a local Ray instance) killed with SIGKILL
after a checkpoint and resumed ends with the weights and metrics of an uninterrupted run."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

pytest.importorskip("ray", reason="backend: ray needs Ray: pip install 'rlvr[ray]'")

from rlvr.cli import main  # noqa: E402
from tests.training.test_checkpoint import untimed_metrics  # noqa: E402
from tests.training.test_resume import DATA, _complete_steps, _start, _wait_for_checkpoint  # noqa: E402

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]  # ~3 min: three Ray runs

STEPS = 5
SHARDED = [
    *("backend=ray", "ray.num_cpus=2", "ray.reward_workers=0", "ray.init_timeout_s=300"),
    *("learner.world_size=2", "ray.learner_cpus=0.5", "ray.rollout_cpus=0.5", "algorithm.kl_coef=0.01"),
]


def _recipe(tmp_path: Path) -> Path:
    from tests.training.helpers import tiny_recipe

    cfg = tiny_recipe(
        tmp_path, f"trainer.steps={STEPS}", "trainer.save_every=1", "data.eval=[]", DATA, *SHARDED
    )
    cfg.model.num_threads = 1
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


def test_a_sharded_run_killed_after_a_checkpoint_resumes_to_the_same_weights_and_metrics(tmp_path):
    recipe = _recipe(tmp_path)
    run = tmp_path / "killed"
    victim = _start(tmp_path, str(recipe), "trainer.run_name=killed", delay_s=0.02)
    errors: list[BaseException] = []

    def kill_when_ready() -> None:
        try:
            _wait_for_checkpoint(run, 2, victim, timeout_s=300)
            time.sleep(0.1)
            victim.send_signal(signal.SIGKILL)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            victim.kill()

    killer = threading.Thread(target=kill_when_ready, daemon=True)
    killer.start()
    killer.join(timeout=400)
    assert not errors, (errors, (tmp_path / "stderr.txt").read_text()[-3000:])
    assert victim.wait(timeout=60) == -signal.SIGKILL, "the run must be killed before it ends"
    killed_at = max(_complete_steps(run))
    assert 2 <= killed_at < STEPS
    assert (run / "checkpoints" / f"step-{killed_at:04d}" / "dcp" / ".metadata").is_file()

    assert main(["--quiet", "train", str(recipe), "trainer.run_name=killed", "--resume", str(run)]) == 0
    assert main(["--quiet", "train", str(recipe), "trainer.run_name=full"]) == 0
    full = load_file(tmp_path / "full/final/model.safetensors")
    resumed = load_file(run / "final/model.safetensors")
    assert full.keys() == resumed.keys()
    for key in full:
        torch.testing.assert_close(resumed[key], full[key], rtol=0, atol=1e-6)
    assert untimed_metrics(run) == untimed_metrics(tmp_path / "full")
    assert not list(run.glob("checkpoints/.*")), "no temporary directory is left"
