"""A multi-turn PPO run (episodes, a critic) killed with SIGKILL and resumed ends with the weights of the
run that was never interrupted: policy and critic."""

import os
import random
import signal
import threading
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

from rlvr.cli import main

from .test_checkpoint import untimed_metrics
from .test_resume import _complete_steps, _start, _wait_for_checkpoint

STEPS = 6
DATA = (
    "data.train=[{type: synthetic, generator: 'tests.training.resume_worker:slow_guess_task', "
    "size: 32, seed: 1, kwargs: {high: 8, max_turns: 3}}]"
)


def _recipe(tmp_path: Path) -> Path:
    from .helpers import tiny_recipe

    cfg = tiny_recipe(
        tmp_path,
        DATA,
        f"trainer.steps={STEPS}",
        "trainer.save_every=1",
        "data.eval=[]",
        "rollout.max_new_tokens=3",
        "rollout.n=4",
        "trainer.prompts_per_step=4",
        "trainer.ppo_epochs=2",
        "trainer.mini_batch_size=8",
        "multiturn.max_total_tokens=32",
        "multiturn.env_workers=2",
        "algorithm.advantage=gae",
        "algorithm.lam=0.95",
        "critic={lr: 1e-2, warmup_steps: 1}",
    )
    cfg.model.num_threads = 1  # the same threads in every run: CPU matmuls are then bit-reproducible
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


def _critic(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / f"step-{STEPS:04d}" / "extra" / "critic.safetensors")


def test_a_killed_multiturn_ppo_run_resumes_to_the_same_policy_and_critic(tmp_path):
    rng = random.Random(int(os.environ.get("RLVR_KILL_SEED", "0")))
    at_step, then_s = rng.randint(1, STEPS - 3), rng.uniform(0.0, 0.4)
    recipe = _recipe(tmp_path)
    run = tmp_path / "killed"
    victim = _start(tmp_path, str(recipe), "trainer.run_name=killed", delay_s=0.005)
    errors: list[BaseException] = []

    def kill_when_ready() -> None:
        try:
            _wait_for_checkpoint(run, at_step, victim, timeout_s=300)
            threading.Event().wait(then_s)
            victim.send_signal(signal.SIGKILL)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            victim.kill()

    killer = threading.Thread(target=kill_when_ready, daemon=True)
    killer.start()
    assert main(["--quiet", "train", str(recipe), "trainer.run_name=full"]) == 0  # meanwhile, uninterrupted
    killer.join(timeout=300)
    assert not errors, errors
    assert victim.wait(timeout=60) == -signal.SIGKILL, "the run must be killed before it ends"
    assert max(_complete_steps(run)) < STEPS

    assert main(["--quiet", "train", str(recipe), "trainer.run_name=killed", "--resume", str(run)]) == 0
    full_dir = tmp_path / "full"
    full, resumed = (
        load_file(full_dir / "final/model.safetensors"),
        load_file(run / "final/model.safetensors"),
    )
    assert full.keys() == resumed.keys()
    for key in full:
        torch.testing.assert_close(resumed[key], full[key], rtol=0, atol=0)
    full_critic, resumed_critic = _critic(full_dir), _critic(run)
    assert full_critic.keys() == resumed_critic.keys() and any("head" in k for k in full_critic)
    for key in full_critic:
        torch.testing.assert_close(resumed_critic[key], full_critic[key], rtol=0, atol=0)
    assert untimed_metrics(run) == untimed_metrics(full_dir)
    rows = untimed_metrics(full_dir)
    assert rows[0]["critic/warmup"] == 1.0 and rows[1]["critic/warmup"] == 0.0
