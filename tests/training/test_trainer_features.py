"""DAPO filters, ProRL resets, reward schedules, monitors and sample logs in real (tiny) runs."""

import json

import pytest
import torch

from rlvr.tracking.logger import read_metrics

from .helpers import learner_of, make_trainer, tiny_recipe, use_verifier


def _run(tmp_path, *overrides, verifier="digit_fraction"):
    trainer = make_trainer(tiny_recipe(tmp_path, *overrides), show_progress=False)
    use_verifier(trainer, verifier)
    trainer.fit()
    trainer.close()
    return trainer, [r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "train/pg_loss" in r]


def test_dynamic_sampling_reports_rounds_and_dropped_groups(tmp_path):
    # starts_with_seven: at init almost every group is all-zero, so most groups are dropped
    trainer, rows = _run(
        tmp_path,
        "filters.dynamic_sampling=true",
        "filters.max_rounds=3",
        "filters.oversample=2",
        "trainer.steps=2",
        verifier="starts_with_seven",
    )
    for row in rows:
        assert row["rollout/rounds"] >= 1
        assert row["rollout/groups_kept"] + row["rollout/groups_short"] == 8
        assert row["rollout/groups_dropped_all_wrong"] > 0
        dropped = row["rollout/groups_dropped_all_wrong"] + row["rollout/groups_dropped_all_correct"]
        assert row["filter/dynamic_sampling/removed"] == 8 * dropped  # rollout.n rows per dropped group


def test_overlong_filter_masks_truncated_completions(tmp_path):
    # max_new_tokens=1: every completion without an immediate eos is truncated
    _, rows = _run(tmp_path, "filters.overlong=true", "rollout.max_new_tokens=1", "trainer.steps=1")
    assert rows[0]["reward/all/truncation_rate"] > 0.9


def test_reference_reset_is_logged_and_survives_resume(tmp_path):
    trainer, rows = _run(
        tmp_path,
        "algorithm.kl_coef=0.1",
        "reference_reset.every=2",
        "trainer.steps=3",
        "trainer.save_every=1",
        "trainer.run_name=reset",
    )
    assert [r.get("train/reference_reset", 0.0) for r in rows] == [0.0, 1.0, 0.0]
    ref = learner_of(trainer).reference.state_dict()
    # the reference was reset at step 2 and the checkpoint of step 3 carries it
    ckpt = trainer.last_checkpoint
    assert (ckpt / "extra" / "reference.safetensors").exists()
    resumed = make_trainer(
        tiny_recipe(
            tmp_path,
            "algorithm.kl_coef=0.1",
            "reference_reset.every=2",
            "trainer.steps=3",
            "trainer.save_every=1",
            "trainer.run_name=reset",
            f"trainer.resume={ckpt}",
        ),
        show_progress=False,
    )
    for k, v in learner_of(resumed).reference.state_dict().items():
        assert torch.equal(v, ref[k]), k
    assert resumed.reset_policy.last_reset == 2
    resumed.close()


def test_reference_reset_without_kl_is_refused(tmp_path):
    with pytest.raises(ValueError, match="kl_coef > 0"):
        make_trainer(tiny_recipe(tmp_path, "reference_reset.every=2"), show_progress=False)


def test_monitors_and_sample_log(tmp_path):
    trainer, rows = _run(
        tmp_path,
        "monitor.behaviours={digits: '[0-9]'}",
        "monitor.log_samples_every=1",
        "monitor.samples_per_log=3",
        "trainer.steps=2",
    )
    assert "reward/all/digits_rate" in rows[0] and "reward/all/reflection_ratio" in rows[0]
    lines = (trainer.run_dir / "samples" / "rollouts.jsonl").read_text().splitlines()
    assert len(lines) == 6
    row = json.loads(lines[0])
    assert {"step", "data_source", "prompt", "completion", "reward", "verifier", "finish_reason"} <= set(row)
    assert row["prompt"].startswith("sort ")


def test_reward_parameter_schedule_follows_progress(tmp_path, monkeypatch):
    seen = []
    from rlvr.rewards.param_schedules import ParamSchedule

    original = ParamSchedule.apply

    def spy(self, requests, progress):
        out = original(self, requests, progress)
        seen.append((progress, out[0].spec.params.get("iou_threshold")))
        return out

    monkeypatch.setattr(ParamSchedule, "apply", spy)
    _run(
        tmp_path,
        "reward.schedules=[{verifiers: ['tests.training.helpers:digit_fraction']}]",
        "trainer.steps=4",
    )
    assert [t for _, t in seen] == [0.85, 0.95, 0.99, 0.99]  # progress 0, .25, .5, .75
