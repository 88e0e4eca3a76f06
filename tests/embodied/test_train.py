import pytest
import torch

from rlvr.embodied.config import ImageNavConfig, is_embodied_recipe, load_imagenav_config

from .conftest import needs_miniworld

TINY = {
    "env": {"train_layouts": 2, "test_layouts": 1, "max_steps": 12},
    "policy": {"arch": "channelcat", "width": 4, "feat_dim": 16, "hidden": 8},
    "ppo": {"num_envs": 1, "vector": "sync", "rollout_steps": 8, "total_env_steps": 16, "minibatches": 2},
    "eval": {"episodes": 2, "probe_samples": 16},
}


def test_recipes_load_and_differ_where_they_should():
    cc = load_imagenav_config("recipes/imagenav/channelcat.yaml")
    lf = load_imagenav_config("recipes/imagenav/late_fusion.yaml", ["ppo.lr=1e-4"])
    ns = load_imagenav_config("recipes/imagenav/channelcat_nosliding.yaml")
    assert (cc.policy.arch, lf.policy.arch, ns.policy.arch) == ("channelcat", "late_fusion", "channelcat")
    assert cc.env.sliding and not ns.env.sliding
    assert lf.ppo.lr == 1e-4 and lf.env == cc.env


def test_unknown_field_names_the_field(tmp_path):
    from rlvr.config import ConfigError

    path = tmp_path / "r.yaml"
    path.write_text("embodied:\n  ppo:\n    lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"ppo\.lrr"):
        load_imagenav_config(path)


def test_dispatch_marker():
    assert is_embodied_recipe({"embodied": {}}) and is_embodied_recipe({"kind": "imagenav"})
    assert not is_embodied_recipe({"model": {}})


@needs_miniworld
def test_resume_from_a_checkpoint_continues_exactly(tmp_path):
    from rlvr.embodied.train import NavTrainer

    cfg = ImageNavConfig.model_validate(TINY)
    a = NavTrainer(cfg, tmp_path)
    try:
        a.step()
        a.save(tmp_path / "ck.pt")
        metrics_a = a.step()
        params_a = [p.detach().clone() for p in a.policy.parameters()]
    finally:
        a.close()
    b = NavTrainer(cfg, tmp_path, resume=tmp_path / "ck.pt")
    try:
        assert b.update == 1 and b.env_steps == 8
        metrics_b = b.step()
        for pa, pb in zip(params_a, b.policy.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    finally:
        b.close()
    for key in ("train/pg_loss", "train/value_loss", "nav/env_steps"):
        assert metrics_a[key] == metrics_b[key]


@needs_miniworld
def test_rlvr_train_runs_an_embodied_recipe_end_to_end(tmp_path):
    import yaml

    from rlvr.cli import main
    from rlvr.tracking.report import write_report

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        yaml.safe_dump({"embodied": {**TINY, "output_dir": str(tmp_path / "runs"), "name": "t"}})
    )
    assert main(["train", str(recipe)]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "checkpoints" / "latest.pt").exists()
    text = (run / "metrics.jsonl").read_text()
    assert (
        "nav/env_steps" in text and "eval/heldout/success" in text and "eval/heldout/probe_pos_err_m" in text
    )
    assert write_report(run).exists()


def test_every_imagenav_recipe_validates():
    from pathlib import Path

    from rlvr.config import read_recipe

    paths = sorted(Path("recipes/imagenav").glob("**/*.yaml"))
    assert len(paths) >= 13
    for path in paths:
        assert is_embodied_recipe(read_recipe(path)), path
        cfg = load_imagenav_config(path)
        assert cfg.policy.arch in {"late_fusion", "channelcat", "s2d_channelcat", "cross_attention"}
