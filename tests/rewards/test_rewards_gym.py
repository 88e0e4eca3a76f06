import json

import pytest

from rlvr.rewards import VERIFIERS

gym = VERIFIERS.get("reasoning_gym")
rg = pytest.importorskip("reasoning_gym")


def _entry(task, seed=0):
    entry = rg.create_dataset(task, size=1, seed=seed)[0]
    return json.loads(json.dumps(entry))  # as it comes back from a JSONL / parquet row


@pytest.mark.parametrize("task", ["basic_arithmetic", "leg_counting"])
def test_gold_answer_scores_one(task):
    entry = _entry(task)
    res = gym(f"<think>...</think><answer>{entry['answer']}</answer>", {"task": task, "entry": entry})
    assert (res.score, res.correct) == (1.0, True)
    assert res.info["extracted"] == str(entry["answer"])


def test_wrong_and_missing_answers():
    entry = _entry("basic_arithmetic")
    gt = {"task": "basic_arithmetic", "entry": entry}
    assert gym("<answer>not a number</answer>", gt).correct is False
    missing = gym(entry["answer"], gt)
    assert (missing.score, missing.info["reason"]) == (0.0, "no answer found")
    assert gym(f"  {entry['answer']} ", gt, answer_tag=None).correct is True


def test_partial_scores_and_threshold():
    # basic_arithmetic uses the base scorer: len(oracle) / len(answer) when the oracle is inside the answer
    gt = {"task": "basic_arithmetic", "entry": {"question": "q", "answer": "12", "metadata": {}}}
    res = gym("<answer>12 ok</answer>", gt)
    assert res.score == pytest.approx(2 / 5) and res.correct is False
    assert gym("<answer>12 ok</answer>", gt, threshold=0.4).correct is True


def test_bad_ground_truth_raises():
    with pytest.raises(ValueError):
        gym("<answer>1</answer>", {"entry": {}})
    with pytest.raises(ValueError):
        gym("<answer>1</answer>", {"task": "no_such_task", "entry": {}})
