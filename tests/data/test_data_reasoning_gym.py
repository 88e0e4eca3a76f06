"""reasoning-gym samples: deterministic, JSON-safe, and the gold answer scores 1.0."""

from __future__ import annotations

import json
import pickle

import pytest

from rlvr.data import load_jsonl, reasoning_gym_samples, save_jsonl, score_reasoning_gym
from rlvr.data.reasoning_gym import to_jsonable
from rlvr.registry import UnknownNameError


@pytest.mark.parametrize("task", ["chain_sum", "spell_backward", "rearc"])
def test_gold_answer_scores_one_after_jsonl_round_trip(tmp_path, task):
    samples = reasoning_gym_samples(task, size=4, seed=11)
    loaded = load_jsonl(save_jsonl(samples, tmp_path / "rg.jsonl"))
    assert loaded == samples
    for s in loaded:
        gt = s.reward.ground_truth
        assert s.reward.verifier == "reasoning_gym" and gt["task"] == task
        assert s.data_source == f"reasoning_gym/{task}"
        assert s.prompt.startswith(gt["entry"]["question"]) and "<answer></answer>" in s.prompt
        assert score_reasoning_gym(gt["entry"]["answer"], gt) == 1.0
        assert score_reasoning_gym("definitely wrong", gt) < 1.0
        assert pickle.loads(pickle.dumps(s)) == s


def test_deterministic_in_seed():
    a = reasoning_gym_samples("chain_sum", size=5, seed=1)
    assert a == reasoning_gym_samples("chain_sum", size=5, seed=1)
    assert [s.prompt for s in a] != [s.prompt for s in reasoning_gym_samples("chain_sum", size=5, seed=2)]
    assert [s.id for s in a] == [f"rg-chain_sum-1-{i}" for i in range(5)]


def test_weighted_mix_scores_each_entry_with_its_own_task():
    samples = reasoning_gym_samples({"chain_sum": 1, "gcd": 1, "spell_backward": 1}, size=24, seed=0)
    tasks = {s.reward.ground_truth["task"] for s in samples}
    assert tasks == {"chain_sum", "gcd", "spell_backward"}
    for s in samples:
        gt = json.loads(json.dumps(s.reward.ground_truth))
        assert s.data_source == f"reasoning_gym/{gt['task']}"
        assert score_reasoning_gym(gt["entry"]["answer"], gt) == 1.0


def test_task_config_template_and_messages():
    samples = reasoning_gym_samples(
        [{"name": "chain_sum", "config": {"min_terms": 2, "max_terms": 2}}],
        size=3,
        seed=0,
        prompt_template="Q: {question}\nAnswer in <answer></answer>.",
        as_messages=True,
    )
    for s in samples:
        assert s.prompt is None and s.messages[0]["role"] == "user"
        assert s.messages[0]["content"].startswith("Q: ")
        assert s.reward.ground_truth["config"] == {"min_terms": 2, "max_terms": 2}
        assert s.reward.ground_truth["entry"]["metadata"]["num_terms"] == 2


def test_unknown_task_or_config_key_lists_valid_ones():
    with pytest.raises(UnknownNameError, match=r"unknown reasoning-gym task 'chainsum'; known: .*chain_sum"):
        reasoning_gym_samples("chainsum", size=1, seed=0)
    with pytest.raises(
        ValueError, match=r"task 'chain_sum': unknown config key 'max_term'; valid: .*max_terms"
    ):
        reasoning_gym_samples([{"name": "chain_sum", "config": {"max_term": 3}}], size=1, seed=0)


def test_to_jsonable():
    import numpy as np

    value = {1: (np.int64(2), {3, 1}), "x": np.array([[1.5]]), "f": frozenset(["b", "a"])}
    assert to_jsonable(value) == {"1": [2, [1, 3]], "x": [[1.5]], "f": ["a", "b"]}
