"""Multi-turn episodes in the training loop: GRPO over trajectories, PPO with a critic, mixed batches."""

import json

import torch

from rlvr.tracking.logger import read_metrics
from rlvr.tracking.report import write_report

from .helpers import make_trainer, model_of, tiny_recipe

GUESS = "{type: synthetic, generator: guess_number, size: 32, seed: 1, kwargs: {high: 8, max_turns: 3}}"
SORT = "{type: synthetic, generator: digit_sort, size: 32, seed: 1, kwargs: {num_digits: 3}}"
BASE = [
    f"data.train=[{GUESS}]",
    "data.eval=[{type: synthetic, generator: guess_number, size: 4, seed: 2, kwargs: {high: 8, max_turns: 3}}]",
    "rollout.max_new_tokens=3",
    "multiturn.max_total_tokens=32",
    "multiturn.env_workers=2",
    "trainer.prompts_per_step=4",
    "rollout.n=4",
]


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return [k for k, v in module.state_dict().items() if not torch.equal(before[k], v)]


def test_grpo_on_episodes_updates_the_policy_and_logs_episode_metrics(tmp_path):
    cfg = tiny_recipe(tmp_path, *BASE, "trainer.steps=2", "monitor.log_samples_every=1")
    trainer = make_trainer(cfg, show_progress=False)
    before = _params(model_of(trainer))
    final = trainer.fit()
    trainer.close()
    assert _changed(before, model_of(trainer))
    first = read_metrics(trainer.run_dir / "metrics.jsonl")[0]
    for key in [
        "episode/guess_number/turns_mean",
        "episode/guess_number/stop/done",
        "episode/guess_number/stop/max_turns",
        "episode/guess_number/env_step_latency_s_mean",
        "episode/guess_number/env_errors",
        "episode/guess_number/tokens_generated_mean",
        "episode/guess_number/tokens_observed_mean",
        "episode/guess_number/turn_reward_mean",
        "episode/guess_number/rows_broken_by_template",
        "episode/guess_number/turn_reward/turn_1",
        "train/pg_loss",
    ]:
        assert key in first, key
    assert first["episode/guess_number/trajectories"] == 16.0
    assert first["episode/guess_number/tokens_observed_mean"] > 0
    assert "eval/episode/guess_number/success_rate" in final
    # the report shows episodes as conversations, observations in their own marked blocks
    samples = [
        json.loads(x) for x in (trainer.run_dir / "samples" / "rollouts.jsonl").read_text().splitlines()
    ]
    assert samples[0]["turns"][0] == {"kind": "prompt", "text": "guess 1-8\n"}
    observations = [t["text"] for s in samples for t in s["turns"] if t["kind"] == "observation"]
    assert observations and set(observations) <= {"higher\n", "lower\n", "?\n"}
    page = write_report(trainer.run_dir).read_text()
    assert '<div class="obs" title="observation: not generated, not trained"><b>env</b> higher' in page or (
        "<b>env</b> lower" in page
    )
    assert '<span class="note">reward 0</span></div>' in page  # each model turn with its reward


def test_ppo_with_a_critic_warms_the_critic_up_first(tmp_path):
    cfg = tiny_recipe(
        tmp_path, *BASE, "trainer.steps=1", "algorithm.advantage=gae", "critic={lr: 1e-2, warmup_steps: 1}",
        "trainer.seed=2",  # a seed whose first step has a nonzero reward: the zero-initialised head then has a gradient
    )  # fmt: skip
    trainer = make_trainer(cfg, show_progress=False)
    critic = trainer.roles.learner.local.critic
    policy0, critic0 = _params(model_of(trainer)), _params(critic.model)
    trainer.train_step()
    assert not _changed(policy0, model_of(trainer)), "the policy waits during the critic's warm-up"
    assert _changed(critic0, critic.model)
    metrics = trainer.train_step()
    trainer.close()
    assert _changed(policy0, model_of(trainer))
    for key in ["critic/value_loss", "critic/explained_variance", "critic/vf_clipfrac", "critic/return_mean"]:
        assert key in metrics, key
    assert metrics["critic/warmup"] == 0.0


def test_a_batch_mixes_episodes_and_single_turn_samples(tmp_path):
    mixed = f"data.train=[{GUESS}, {SORT}]"
    cfg = tiny_recipe(
        tmp_path, *BASE, mixed, "trainer.steps=1", "trainer.prompts_per_step=16", "data.eval=[]"
    )
    trainer = make_trainer(cfg, show_progress=False)
    rollouts, _ = trainer._collect(0)
    kinds = {s.env is not None for s in rollouts.samples}
    assert kinds == {True, False}
    assert rollouts.row_traj.count(-1) == 4 * sum(s.env is None for s in rollouts.samples)
    metrics = trainer.train_step()
    trainer.close()
    assert (
        "episode/guess_number/turns_mean" in metrics
        and "reward/data_source/digit_sort/response_length" in metrics
    )
