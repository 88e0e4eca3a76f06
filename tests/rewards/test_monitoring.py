"""Reflection and behaviour metrics per data_source, against hand-computed values."""

import re

import pytest

from rlvr.rewards.monitoring import (
    DEFAULT_REFLECTION_WORDS,
    EXTENDED_REFLECTION_WORDS,
    OFFICIAL_REFLECTION_WORDS,
    behaviour_metrics,
    reflection_metrics,
    reflection_pattern,
)

TEXTS = [
    "Wait, let me re-check this. The answer is 4.",  # a: reflects, correct
    "The answer is 5.",  # a: no reflection, wrong
    "Hmm... I made a Mistake earlier",  # a: reflects, wrong
    "Straightforward: 7",  # b: no reflection, correct
    "awaiting the result; unverified; rechecking",  # b: no whole reflection word, not judged
    "Let me\ncheck: double check done",  # b: reflects ("let me check" across a newline), correct
    "verify",  # c: reflects, not judged
]
SOURCES = ["a", "a", "a", "b", "b", "b", "c"]
CORRECT = [True, False, False, True, None, True, None]


def test_reflection_metrics_by_hand():
    m = reflection_metrics(TEXTS, SOURCES, CORRECT, words=EXTENDED_REFLECTION_WORDS)
    assert m == pytest.approx(
        {
            "reward/data_source/a/reflection_ratio": 2 / 3,
            "reward/data_source/a/reflection_accuracy": 1 / 2,  # texts 0 (right) and 2 (wrong)
            "reward/data_source/a/no_reflection_accuracy": 0.0,  # text 1
            "reward/data_source/b/reflection_ratio": 1 / 3,
            "reward/data_source/b/reflection_accuracy": 1.0,  # text 5
            "reward/data_source/b/no_reflection_accuracy": 1.0,  # text 3; text 4 is not judged
            "reward/data_source/c/reflection_ratio": 1.0,  # no judged response: no accuracies
            "reward/all/reflection_ratio": 4 / 7,
            "reward/all/reflection_accuracy": 2 / 3,  # texts 0, 2, 5
            "reward/all/no_reflection_accuracy": 1 / 2,  # texts 1, 3
        }
    )


def test_reflection_words_are_whole_words_case_insensitive_with_flexible_separators():
    pattern = reflection_pattern(EXTENDED_REFLECTION_WORDS)
    assert len(EXTENDED_REFLECTION_WORDS) == 15
    hits = ["WAIT.", "(verify)", "re-check", "Re check", "double-check", "double  check", "rethink", "hmm,"]
    misses = ["awaiting", "verified", "unverify", "rechecking", "hmmm", "mistakes", "howevers", ""]
    assert all(pattern.search(t) for t in hits)
    assert not any(pattern.search(t) for t in misses)


def test_official_words_are_the_default_and_match_as_substrings_when_asked():
    assert DEFAULT_REFLECTION_WORDS is OFFICIAL_REFLECTION_WORDS and len(OFFICIAL_REFLECTION_WORDS) == 15
    texts = ["Let me think again.", "Not yet sure", "awaiting", "Hmm, a mistake", "re-evaluation"]
    correct = [True, False, True, True, None]
    # whole words: texts 0, 1 reflect ("re-evaluation" is no listed word; "reevaluation" is)
    m = reflection_metrics(texts, ["s"] * 5, correct)
    assert m["reward/all/reflection_ratio"] == pytest.approx(2 / 5)
    # official substring match: "wait" in "awaiting", "re-evaluate" is not in "re-evaluation" -> 3 of 5
    m = reflection_metrics(texts, ["s"] * 5, correct, whole_words=False)
    assert m["reward/all/reflection_ratio"] == pytest.approx(3 / 5)
    assert m["reward/all/reflection_accuracy"] == pytest.approx(2 / 3)  # texts 0, 1, 2
    assert m["reward/all/no_reflection_accuracy"] == 1.0  # text 3; text 4 is not judged


def test_custom_words():
    m = reflection_metrics(["Oops, fix", "fine"], ["s", "s"], [False, True], words=["oops"])
    assert m["reward/all/reflection_ratio"] == 0.5
    assert (m["reward/all/reflection_accuracy"], m["reward/all/no_reflection_accuracy"]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        reflection_metrics(["x"], ["s"], [True], words=[""])


def test_behaviour_metrics_code_reasoning_rate():
    texts = ["```python\nprint(1)```", "Python is handy", "no code", "pythonic"]
    m = behaviour_metrics(texts, ["x", "x", "y", "y"], [True, False, True, None], "python", "code")
    assert m == pytest.approx(
        {
            "reward/data_source/x/code_rate": 1.0,
            "reward/data_source/x/code_accuracy": 0.5,
            "reward/data_source/y/code_rate": 0.5,
            "reward/data_source/y/no_code_accuracy": 1.0,
            "reward/all/code_rate": 0.75,
            "reward/all/code_accuracy": 0.5,
            "reward/all/no_code_accuracy": 1.0,
        }
    )
    strict = behaviour_metrics(texts, ["x"] * 4, [None] * 4, re.compile("python"), "code")
    assert strict == {"reward/data_source/x/code_rate": 0.5, "reward/all/code_rate": 0.5}


def test_mismatched_lengths_and_bad_names():
    with pytest.raises(ValueError, match="one entry per response: 2, 1, 2"):
        reflection_metrics(["a", "b"], ["s"], [True, False])
    with pytest.raises(ValueError, match="no '/'"):
        behaviour_metrics(["a"], ["s"], [True], "a", "a/b")
    assert reflection_metrics([], [], []) == {}
