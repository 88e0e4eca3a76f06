import itertools

from rlvr.data.sample import Sample
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import Completion
from rlvr.training.collect import RolloutBatch, collect
from rlvr.training.filtering import FilterStage

DYNAMIC = FilterStage(["errored", "dynamic_sampling"])

# Prompt k's group of 2 scores: k % 3 == 0 -> both right, 1 -> both wrong, 2 -> one of each.
PATTERN = {0: (1.0, 1.0), 1: (0.0, 0.0), 2: (1.0, 0.0)}


def _fake_round(samples):
    batch = RolloutBatch(samples=list(samples))
    for p, s in enumerate(samples):
        for score in PATTERN[int(s.id) % 3]:
            batch.completions.append(Completion(p, [1], [0.0], s.id, "stop"))
            batch.requests.append(ScoreRequest(s.id, s.reward))
            batch.results.append(RewardResult(score, correct=score == 1.0))
    return batch


def _prompt_stream():
    counter = itertools.count()
    return lambda k: [Sample(id=str(next(counter)), prompt="p") for _ in range(k)]


def test_without_dynamic_sampling_everything_is_kept():
    batch = collect(_prompt_stream(), _fake_round, target_groups=6)
    assert len(batch.samples) == 6 and len(batch.completions) == 12
    assert batch.stats["rollout/rounds"] == 1


def test_dynamic_sampling_keeps_only_mixed_groups_until_full():
    batch = collect(
        _prompt_stream(), _fake_round, target_groups=4, keep_groups=DYNAMIC.kept_groups, max_rounds=10
    )
    assert [s.id for s in batch.samples] == ["2", "5", "8", "11"]
    assert {c.prompt_index for c in batch.completions} == {0, 1, 2, 3}
    for c in batch.completions:
        assert batch.samples[c.prompt_index].id == c.text  # completions stay with their prompt
    s = batch.stats
    # rounds ask 4, 3, 2, 1, 1 prompts: ids 0-3 | 4-6 | 7-8 | 9 | 10 ... until four mixed groups
    assert s["rollout/groups_kept"] == 4 and s["rollout/groups_short"] == 0
    assert (
        s["rollout/groups_dropped_all_correct"] + s["rollout/groups_dropped_all_wrong"]
        == s["rollout/prompts_sampled"] - 4
    )


def test_dynamic_sampling_stops_after_max_rounds_and_reports_the_shortfall():
    batch = collect(
        _prompt_stream(), _fake_round, target_groups=10, keep_groups=DYNAMIC.kept_groups, max_rounds=1
    )
    assert len(batch.samples) == 3  # ids 2, 5, 8 of the first 10
    assert batch.stats["rollout/groups_short"] == 7 and batch.stats["rollout/rounds"] == 1
