"""Offline RL: an online run logs its rollouts; another run trains on them without generating."""

import json

import pytest
import torch

from rlvr.data.errors import DataFormatError
from rlvr.tracking.logger import read_metrics

from .helpers import engine_of, make_trainer, model_of, tiny_recipe, use_verifier


def _online_with_logged_rollouts(tmp_path):
    trainer = make_trainer(
        tiny_recipe(tmp_path / "online", "trainer.steps=3", "monitor.log_rollouts=true"), show_progress=False
    )
    use_verifier(trainer, "digit_fraction")
    trainer.fit()
    trainer.close()
    return trainer.run_dir / "rollouts.jsonl"


def test_a_run_trains_offline_on_another_runs_logged_rollouts(tmp_path):
    logged = _online_with_logged_rollouts(tmp_path)
    rows = [json.loads(line) for line in logged.read_text().splitlines()]
    assert len(rows) == 3 * 8 * 8 and {r["step"] for r in rows} == {1, 2, 3}
    assert all(len(r["behaviour_logprobs"]) == len(r["completion_ids"]) for r in rows)
    assert [r["policy_version"] for r in rows[:: 8 * 8]] == [0, 1, 2]

    offline = make_trainer(
        tiny_recipe(
            tmp_path / "offline",
            "trainer.steps=3",
            f"data.logged={logged}",
            "algorithm.tis_cap=2.0",
            "data.eval=[]",
        ),
        show_progress=False,
    )
    assert len(offline.logged) == 3 * 8  # groups: 8 prompts a step
    before = {k: v.clone() for k, v in model_of(offline).state_dict().items()}
    generated = []
    engine_of(offline).generate = lambda *a, **k: generated.append(1)  # offline training never generates
    offline.fit()
    offline.close()
    assert not generated
    assert any(not torch.equal(before[k], v) for k, v in model_of(offline).state_dict().items())
    steps = [r for r in read_metrics(offline.run_dir / "metrics.jsonl") if "train/pg_loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    # logged batches were sampled by older policies: the importance ratios say so
    assert all("train/tis_ratio_mean" in r and "reward/all/reward_mean" in r for r in steps)
    assert any(r["train/tis_ratio_max"] != 1.0 for r in steps)


def test_a_bad_logged_file_names_the_file_row_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "1 2", "completion": "3", "reward": 1.0}\n')
    with pytest.raises(DataFormatError, match=r"bad\.jsonl.*row 1.*behaviour_logprobs"):
        make_trainer(tiny_recipe(tmp_path, f"data.logged={bad}"), show_progress=False)
