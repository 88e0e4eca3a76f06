"""RaML's num_update_samples_per_prompt wired into a training step."""

from .helpers import make_trainer, tiny_recipe, use_verifier


def test_only_k_samples_per_prompt_enter_the_update(tmp_path):
    cfg = tiny_recipe(
        tmp_path, "algorithm.num_update_samples_per_prompt=3", "trainer.steps=1", "data.eval=[]"
    )
    trainer = make_trainer(cfg, show_progress=False)
    use_verifier(trainer, "digit_fraction")
    try:
        metrics = trainer.train_step()
    finally:
        trainer.close()
    assert metrics["train/update_rows"] == 8 * 3  # 8 prompts, 3 of their 8 samples each
