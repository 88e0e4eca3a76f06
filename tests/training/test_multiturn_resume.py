"""A multi-turn PPO run (episodes, a critic) killed with SIGKILL and resumed ends with the weights of the
run that was never interrupted: policy and critic."""

import os
import random
from pathlib import Path

from safetensors.torch import load_file

from rlvr.cli import main

from .killing import KillAfterCheckpoint, assert_same_weights, complete_steps, recipe_file, start_train
from .test_checkpoint import untimed_metrics

STEPS = 6
DATA = (
    "data.train=[{type: synthetic, generator: 'tests.training.resume_worker:slow_guess_task', "
    "size: 32, seed: 1, kwargs: {high: 8, max_turns: 3}}]"
)
PPO = (
    *("rollout.max_new_tokens=3", "rollout.n=4", "trainer.prompts_per_step=4", "trainer.ppo_epochs=2"),
    *("trainer.mini_batch_size=8", "multiturn.max_total_tokens=32", "multiturn.env_workers=2"),
    *("algorithm.advantage=gae", "algorithm.lam=0.95", "critic={lr: 1e-2, warmup_steps: 1}"),
)


def _recipe(tmp_path: Path) -> Path:
    return recipe_file(tmp_path, DATA, f"trainer.steps={STEPS}", "trainer.save_every=1", "data.eval=[]", *PPO)


def test_a_killed_multiturn_ppo_run_resumes_to_the_same_policy_and_critic(tmp_path):
    rng = random.Random(int(os.environ.get("RLVR_KILL_SEED", "0")))
    at_step, then_s = rng.randint(1, STEPS - 3), rng.uniform(0.0, 0.4)
    recipe = _recipe(tmp_path)
    run = tmp_path / "killed"
    victim = start_train(tmp_path, str(recipe), "trainer.run_name=killed", delay_s=0.005)
    killer = KillAfterCheckpoint(run, victim, at_step, then_s)
    assert main(["--quiet", "train", str(recipe), "trainer.run_name=full"]) == 0  # meanwhile, uninterrupted
    killer.join()
    assert max(complete_steps(run)) < STEPS

    assert main(["--quiet", "train", str(recipe), "trainer.run_name=killed", "--resume", str(run)]) == 0
    full_dir = tmp_path / "full"
    assert_same_weights(full_dir / "final/model.safetensors", run / "final/model.safetensors", atol=0)
    critic = Path("checkpoints") / f"step-{STEPS:04d}" / "extra" / "critic.safetensors"
    assert_same_weights(full_dir / critic, run / critic, atol=0)
    assert any("head" in k for k in load_file(run / critic))
    assert untimed_metrics(run) == untimed_metrics(full_dir)
    rows = untimed_metrics(full_dir)
    assert rows[0]["critic/warmup"] == 1.0 and rows[1]["critic/warmup"] == 0.0
