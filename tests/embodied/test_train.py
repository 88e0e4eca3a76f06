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


def test_the_gpu_recipes_build_their_paper_scale_policy_and_step():
    """The GPU recipes are never trained here: at least their policies build at the recipes' own view
    size and widths and take one step (every architecture's shapes at 128x128, on the CPU)."""
    from pathlib import Path

    from rlvr.embodied.train import make_policy

    paths = sorted(Path("recipes/imagenav/gpu").glob("*.yaml"))
    archs = set()
    for path in paths:
        cfg = load_imagenav_config(path, ["embodied.device=cpu"])
        p, size = cfg.policy, cfg.env.obs_size
        policy = make_policy(cfg)  # as rlvr train builds it
        pictures = torch.randint(0, 256, (1, 2, 2, size, size, 3), dtype=torch.uint8)
        prev = torch.full((1, 2), policy.num_actions)
        with torch.no_grad():
            logits, values, h = policy(pictures, prev, torch.zeros(2, policy.hidden_size))
        assert logits.shape == (1, 2, 4) and values.shape == (1, 2) and h.shape == (2, p.hidden), path
        archs.add(p.arch)
    assert archs == {"late_fusion", "channelcat", "s2d_channelcat", "cross_attention"}


def _tiny_recipe(tmp_path, **policy):
    import yaml

    recipe = tmp_path / f"tiny-{'-'.join(f'{k}{v}' for k, v in policy.items())}.yaml"
    body = {**TINY, "policy": {**TINY["policy"], **policy}, "output_dir": str(tmp_path / "runs"), "name": "t"}
    recipe.write_text(yaml.safe_dump({"embodied": body}))
    return recipe


@needs_miniworld
def test_rlvr_eval_scores_a_checkpoint_as_training_does(tmp_path, capsys):
    import json

    from rlvr.cli import main
    from rlvr.embodied.evaluate import evaluate_run
    from rlvr.embodied.train import NavTrainer
    from rlvr.tracking.logger import read_metrics

    recipe = _tiny_recipe(tmp_path)
    cfg = load_imagenav_config(recipe)
    run = tmp_path / "run"
    trainer = NavTrainer(cfg, run)
    try:
        trainer.step()
        trainer.save(run / "checkpoints" / "latest.pt")
        (run / "metrics.jsonl").write_text('{"step": 1, "nav/success": 0.0}\n')
        expected = evaluate_run(trainer.policy, cfg, None, probe=True)
    finally:
        trainer.close()
    out = tmp_path / "eval.json"
    assert main(["eval", str(recipe), "--model", str(run), "--output", str(out), "--run-dir", str(run)]) == 0
    assert json.loads(out.read_text()) == expected  # the same episodes, the same probe
    assert f"eval/heldout/success: {expected['eval/heldout/success']:.4f}" in capsys.readouterr().out
    last = read_metrics(run / "metrics.jsonl")[-1]
    assert last["step"] == 1 and last["eval/heldout/spl"] == expected["eval/heldout/spl"]
    # a policy trained with sliding, evaluated without it: an override of the recipe
    assert (
        main(["eval", str(recipe), "--model", str(run / "checkpoints" / "latest.pt"), "env.sliding=false"])
        == 0
    )


@needs_miniworld
def test_checkpoint_errors_name_the_field_before_any_env_is_built(tmp_path, capsys):
    from rlvr.cli import main
    from rlvr.embodied.train import NavTrainer, make_policy
    from rlvr.embodied.weights import save_perception

    recipe = _tiny_recipe(tmp_path)
    assert main(["eval", str(recipe)]) == 2
    assert "--model: give the policy to evaluate" in capsys.readouterr().err
    assert main(["eval", str(recipe), "--model", str(tmp_path / "nothing")]) == 2
    assert "--model: no checkpoint at" in capsys.readouterr().err

    late = load_imagenav_config(_tiny_recipe(tmp_path, arch="late_fusion"))
    trainer = NavTrainer(late, tmp_path / "late")
    trainer.save(tmp_path / "late.pt")
    trainer.close()
    assert main(["eval", str(recipe), "--model", str(tmp_path / "late.pt")]) == 2
    assert "holds a 'late_fusion' policy; the recipe's policy.arch is 'channelcat'" in capsys.readouterr().err
    cc = load_imagenav_config(recipe)
    save_perception(
        make_policy(cc).perception,
        tmp_path / "perc.pt",
        arch="channelcat",
        width=4,
        feat_dim=16,
        obs_size=cc.env.obs_size,
    )
    assert main(["eval", str(recipe), "--model", str(tmp_path / "perc.pt")]) == 2
    assert "use policy.init_perception" in capsys.readouterr().err

    wide = load_imagenav_config(_tiny_recipe(tmp_path, width=8))
    trainer = NavTrainer(wide, tmp_path / "wide")
    trainer.save(tmp_path / "wide.pt")
    trainer.close()
    assert main(["eval", str(recipe), "--model", str(tmp_path / "wide.pt")]) == 2
    assert "--model: the weights do not fit the recipe's policy" in capsys.readouterr().err
    assert main(["train", str(recipe), f"ppo.init_from={tmp_path / 'late.pt'}"]) == 2
    assert "ppo.init_from:" in capsys.readouterr().err


def test_episode_metrics_show_the_degenerate_policies():
    from rlvr.embodied.train import episode_metrics

    def ep(length, stopped, success=0.0):
        return {
            "success": success,
            "spl": success,
            "length": length,
            "collisions": 0.0,
            "return": 0.0,
            "stopped": stopped,
        }

    assert episode_metrics([]) == {}
    m = episode_metrics([ep(1, 1), ep(1, 1), ep(30, 0), ep(7, 1, success=1.0)])
    assert m["nav/stop_at_once"] == 0.5 and m["nav/stopped"] == 0.75 and m["nav/success"] == 0.25
    assert m["nav/length"] == (1 + 1 + 30 + 7) / 4
    assert episode_metrics([ep(30, 0), ep(30, 0)])["nav/stopped"] == 0.0  # never STOP


@needs_miniworld
def test_resume_drops_the_rows_logged_after_the_checkpoint(tmp_path):
    from rlvr.cli import main
    from rlvr.embodied.train import NavTrainer
    from rlvr.tracking.logger import read_metrics

    recipe = _tiny_recipe(tmp_path)
    run = tmp_path / "run"
    trainer = NavTrainer(load_imagenav_config(recipe), run)
    try:
        trainer.step()
        trainer.save(run / "checkpoints" / "latest.pt")
    finally:
        trainer.close()
    # the stopped process had logged updates 1-3 after its last checkpoint (update 1)
    rows = "".join(f'{{"step": {s}, "train/pg_loss": 0.5}}\n' for s in (1, 2, 3))
    (run / "metrics.jsonl").write_text(rows + '{"step": 3, "train/pg_lo')  # and a line torn by the kill
    assert main(["train", str(recipe), "--resume", str(run), "ppo.total_env_steps=24"]) == 0
    steps = [r["step"] for r in read_metrics(run / "metrics.jsonl") if "train/pg_loss" in r]
    assert steps == [1, 2, 3]


def test_collapse_streak_counts_updates_in_a_row():
    from rlvr.embodied.train import collapse_streak

    streak = 0
    for share in (1.0, 0.995, 0.99):
        streak = collapse_streak(streak, {"nav/stop_at_once": share})
    assert streak == 3
    assert collapse_streak(streak, {}) == 3  # no episode finished: the count stands
    assert collapse_streak(streak, {"nav/stop_at_once": 0.98}) == 0


@needs_miniworld
def test_stop_on_collapse_ends_a_collapsed_run_as_finished(tmp_path, monkeypatch, capsys):
    import rlvr.embodied.train as train
    from rlvr.embodied.env import STOP
    from rlvr.tracking.logger import read_metrics

    make_policy = train.make_policy

    def stop_at_once(cfg):
        policy = make_policy(cfg)  # the policy rlvr train builds, then made to STOP at once
        with torch.no_grad():
            policy.actor.bias[STOP] = 50.0  # every episode: STOP as the first action
        return policy

    monkeypatch.setattr(train, "make_policy", stop_at_once)
    ppo = {**TINY["ppo"], "total_env_steps": 10_000, "stop_on_collapse": 2, "lr": 1e-8}
    cfg = ImageNavConfig.model_validate({**TINY, "ppo": ppo})
    final = train.fit(cfg, tmp_path, show=False)

    assert final["nav/stop_at_once"] == 1.0 and "eval/heldout/success" in final
    assert "ending the run at 16 env steps" in capsys.readouterr().out
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["nav/collapsed_at_env_steps"] for r in rows if "nav/collapsed_at_env_steps" in r] == [16.0]
    state = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=False)
    assert (state["env_steps"], state["collapse_streak"]) == (16, 2)


@needs_miniworld
def test_ctrl_c_ends_the_update_writes_a_checkpoint_and_names_the_resume_command(tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it, workers included."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from rlvr.cli import main

    ppo = {**TINY["ppo"], "num_envs": 2, "vector": "async", "total_env_steps": 1_000_000}
    body = {**TINY, "ppo": ppo, "output_dir": str(tmp_path / "runs"), "name": "t", "checkpoint_every": 1000}
    recipe = tmp_path / "async.yaml"
    recipe.write_text(yaml.safe_dump({"embodied": body}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlvr.cli", "train", str(recipe)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not list((tmp_path / "runs").glob("t-*/metrics.jsonl")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    (run,) = (tmp_path / "runs").iterdir()
    assert proc.returncode == 130, err
    assert f"--resume {run}" in err and "Traceback" not in err
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=False)
    assert state["update"] >= 1  # written on the way out: checkpoint_every alone would not have
    steps = state["env_steps"]
    assert main(["train", str(recipe), "--resume", str(run), f"ppo.total_env_steps={steps + 16}"]) == 0
    assert torch.load(run / "checkpoints" / "latest.pt", weights_only=False)["env_steps"] == steps + 16


@needs_miniworld
def test_resume_refuses_settings_that_change_what_the_run_optimises(tmp_path, capsys):
    from rlvr.cli import main

    recipe = _tiny_recipe(tmp_path)
    assert main(["train", str(recipe), "embodied.seed=3"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    before = (run / "config.yaml").read_text()
    capsys.readouterr()
    # forgetting the run's own override (seed 3), and changing sliding
    assert main(["train", str(recipe), "env.sliding=false", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "env.sliding: True -> False" in err and "seed: 3 -> 0" in err and "--force-resume" in err
    assert (run / "config.yaml").read_text() == before  # nothing written, no env built
    # where the run goes and how long may change
    assert (
        main(["train", str(recipe), "embodied.seed=3", "ppo.total_env_steps=24", "--resume", str(run)]) == 0
    )
    forced = ["train", str(recipe), "env.sliding=false", "ppo.total_env_steps=32", "--resume", str(run)]
    assert main([*forced, "--force-resume"]) == 0
    assert "sliding: false" in (run / "config.yaml").read_text()
