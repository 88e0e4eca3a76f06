import torch

from rlvr.tracking.logger import read_metrics

from .helpers import learner_of, make_trainer, model_of, tiny_recipe, use_verifier


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_one_step_changes_weights_and_logs_metrics(tmp_path):
    trainer = make_trainer(tiny_recipe(tmp_path, "trainer.steps=1"), show_progress=False)
    use_verifier(trainer, "digit_fraction")  # rewards vary within groups even for a random policy
    before = _params(model_of(trainer))
    trainer.fit()
    trainer.close()
    after = model_of(trainer).state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "a training step must change the weights"
    rows = read_metrics(trainer.run_dir / "metrics.jsonl")
    first = rows[0]
    for key in [
        "reward/all/reward_mean",
        "reward/data_source/digit_sort/response_length",
        "reward/data_source/digit_sort/truncation_rate",
        "train/pg_loss",
        "train/entropy",
        "train/clip_frac_low",
        "train/clip_frac_high",
        "train/grad_norm",
        "perf/step_s",
        "perf/gen_tokens_per_s",
    ]:
        assert key in first, key
    assert (trainer.run_dir / "final" / "config.json").exists()
    assert (trainer.run_dir / "config.yaml").exists()
    assert (trainer.run_dir / "train.log").exists()


def test_a_few_dozen_steps_raise_the_reward(tmp_path):
    cfg = tiny_recipe(
        tmp_path,
        "trainer.steps=30",
        "trainer.prompts_per_step=16",
        "rollout.max_new_tokens=2",
        "optim.lr=1e-2",
        "data.eval=[]",
    )
    # the digit_sort generator scores by exact match; swap in the easy verifier on the loaded samples
    trainer = make_trainer(cfg, show_progress=False)
    use_verifier(trainer, "starts_with_seven")
    trainer.fit()
    trainer.close()
    rewards = [r["reward/all/reward_mean"] for r in read_metrics(trainer.run_dir / "metrics.jsonl")]
    assert sum(rewards[:5]) / 5 < 0.1
    assert sum(rewards[-5:]) / 5 > 0.5, rewards


def test_kl_loads_a_reference_only_when_needed(tmp_path):
    trainer = make_trainer(tiny_recipe(tmp_path), show_progress=False)
    assert learner_of(trainer).reference is None
    trainer.close()
    trainer = make_trainer(
        tiny_recipe(tmp_path, "algorithm.kl_coef=0.1", "trainer.steps=1"), show_progress=False
    )
    assert learner_of(trainer).reference is not None
    trainer.fit()
    rows = read_metrics(trainer.run_dir / "metrics.jsonl")
    assert "train/kl_loss" in rows[0]
    trainer.close()


def test_several_epochs_and_mini_batches(tmp_path):
    cfg = tiny_recipe(
        tmp_path, "trainer.ppo_epochs=2", "trainer.mini_batch_size=16", "trainer.micro_batch_size=8"
    )
    trainer = make_trainer(cfg, show_progress=False)
    use_verifier(trainer, "digit_fraction")
    trainer.fit()
    trainer.close()
    rows = read_metrics(trainer.run_dir / "metrics.jsonl")
    assert rows[0]["train/skipped_updates"] == 0
    assert "train/ratio_max" in rows[0]


def test_a_model_object_gets_the_cudnn_setting_that_load_model_gives(tmp_path, monkeypatch):
    import rlvr.training.roles as roles
    from rlvr.models.load import load_model, load_tokenizer

    cfg = tiny_recipe(tmp_path, "model.cudnn_attention=true")
    tok = load_tokenizer(cfg.model)
    model = load_model(cfg.model, tok)
    seen: list[tuple[bool, torch.device]] = []
    monkeypatch.setattr(roles, "set_cudnn_attention", lambda enabled, device: seen.append((enabled, device)))
    roles.LearnerRole(cfg, model=model, tokenizer=tok)
    assert seen == [(True, torch.device("cpu"))]
