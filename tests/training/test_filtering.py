"""The filter stage: the configured filters applied in order, what each removed, and the learner's
zero-advantage skipping only for losses that declare it."""

import copy

import pytest
import torch

from rlvr.algorithms import AlgorithmConfig
from rlvr.algorithms.losses import vanilla_pg
from rlvr.config import OptimConfig, TrainerConfig
from rlvr.data.sample import RewardSpec, Sample
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.registry import UnknownNameError
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import Completion
from rlvr.tracking.logger import read_metrics
from rlvr.training.collect import RolloutBatch
from rlvr.training.filtering import FilterStage, filter_names
from rlvr.training.learner import Learner

from .helpers import make_trainer, tiny_recipe, use_verifier

# (prompt, score, errored, truncated) per row: 3 groups of 2
ROWS = [
    (0, 1.0, False, False),
    (0, 0.0, True, False),  # errored
    (1, 0.0, False, True),  # truncated
    (1, 1.0, True, True),  # errored and truncated
    (2, 1.0, False, False),
    (2, 1.0, False, True),  # truncated
]


def _batch(rows=ROWS) -> RolloutBatch:
    batch = RolloutBatch(samples=[Sample(id=str(p), prompt="p") for p in range(3)])
    for p, score, errored, truncated in rows:
        batch.completions.append(Completion(p, [5], [0.0], "x", "length" if truncated else "stop"))
        batch.requests.append(ScoreRequest("x", RewardSpec("exact_match", "x")))
        batch.results.append(RewardResult(score, correct=score == 1.0, error="boom" if errored else None))
    return batch


def test_loss_filters_apply_in_order_and_count_what_each_removed():
    keep, in_groups, removed = FilterStage(["errored", "overlong"]).loss_masks(_batch())
    assert keep.tolist() == [True, False, False, False, True, False]
    assert in_groups.tolist() == [True, False, True, False, True, True]  # only errored rows leave groups
    assert removed == {"filter/errored/removed": 2.0, "filter/overlong/removed": 2.0}
    # the other order: overlong takes row 3 first
    keep, in_groups, removed = FilterStage(["overlong", "errored"]).loss_masks(_batch())
    assert keep.tolist() == [True, False, False, False, True, False]
    assert in_groups.tolist() == [True, False, True, False, True, True]
    assert removed == {"filter/overlong/removed": 3.0, "filter/errored/removed": 1.0}


def test_without_filters_every_row_trains():
    keep, in_groups, removed = FilterStage([]).loss_masks(_batch())
    assert keep.all() and in_groups.all() and removed == {}


def test_dynamic_sampling_keeps_groups_with_a_spread_among_rows_the_filters_before_it_kept():
    # with errored first, group 0 has one kept row (no spread) and group 1 too: only group 2 could stay,
    # and its two kept rows are both 1.0, so nothing stays
    stage = FilterStage(["errored", "dynamic_sampling"])
    assert stage.collects
    assert stage.kept_groups(_batch()) == ([], {"filter/dynamic_sampling/removed": 4.0})
    # without the errored filter, an errored row counts with score 0: group 0 (1, 0) stays, group 1 (0, 0)
    # and group 2 (1, 1) do not
    kept, removed = FilterStage(["dynamic_sampling"]).kept_groups(_batch())
    assert kept == [0] and removed == {"filter/dynamic_sampling/removed": 4.0}
    assert not FilterStage(["errored", "overlong"]).collects


def test_filter_names_follow_the_switches_unless_given():
    cfg = tiny_recipe("/tmp")
    assert filter_names(cfg) == ["errored", "zero_advantage"]
    cfg = tiny_recipe("/tmp", "filters.dynamic_sampling=true", "filters.overlong=true")
    assert filter_names(cfg) == ["errored", "dynamic_sampling", "overlong", "zero_advantage"]
    cfg = tiny_recipe("/tmp", "trainer.skip_zero_advantage=false", "filters.apply=[overlong, errored]")
    assert filter_names(cfg) == ["overlong", "errored"]
    with pytest.raises(UnknownNameError, match="known: dynamic_sampling, errored, overlong, zero_advantage"):
        FilterStage(["errord"])


@pytest.fixture(scope="module")
def model():
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, max_positions=32)
    return build_tiny_model(cfg, build_tokenizer())


def undeclared_pg(*args, **kwargs):
    """vanilla_pg, plugged in by import path without a declaration: the learner must train every row."""
    return vanilla_pg(*args, **kwargs)


UNDECLARED = "tests.training.test_filtering:undeclared_pg"


@pytest.mark.parametrize(("loss", "skipped"), [("vanilla_pg", [0, 2]), (UNDECLARED, None)])
def test_the_learner_skips_zero_advantage_rows_only_for_losses_that_declare_it(model, loss, skipped):
    learner = Learner(
        copy.deepcopy(model), AlgorithmConfig(policy_loss=loss), OptimConfig(), TrainerConfig(), 10, 1.0, 4
    )
    adv = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [-0.5, 0.0]])
    mask = torch.ones(4, 2)
    rows = learner._rows_to_train(adv, mask, None)
    assert (rows.tolist() if rows is not None else None) == ([1, 3] if skipped else None)
    expected = {"filter/zero_advantage/removed": 2.0} if skipped else {}
    assert learner.filter_metrics(adv, mask, None) == expected


def test_the_trainer_logs_what_each_filter_removed(tmp_path):
    # max_new_tokens=1: almost every completion is truncated; digit_fraction gives varied rewards
    trainer = make_trainer(
        tiny_recipe(tmp_path, "filters.overlong=true", "rollout.max_new_tokens=1", "trainer.steps=1"),
        show_progress=False,
    )
    use_verifier(trainer, "digit_fraction")
    trainer.fit()
    trainer.close()
    row = next(r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "train/pg_loss" in r)
    assert row["filter/errored/removed"] == 0.0
    assert row["filter/overlong/removed"] == row["reward/all/truncation_rate"] * 64
    assert row["filter/zero_advantage/removed"] >= 0.0
