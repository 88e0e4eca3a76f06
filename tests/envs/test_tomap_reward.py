"""The ToMAP reward terms, computed by hand."""

from __future__ import annotations

import pytest

from rlvr.envs.tomap.metrics import distinct_n, repetition_rate
from rlvr.envs.tomap.reward import (
    format_reward,
    overlength_reward,
    persuasion_gain,
    repetition_reward,
    tag_reward,
    turn_reward,
)


def test_persuasion_gain_is_normalised_by_the_room_left() -> None:
    assert persuasion_gain(0.44, 0.2) == pytest.approx(0.24 / 0.8)  # up: over 1 - S
    assert persuasion_gain(0.3, 0.4) == pytest.approx(-0.25)  # down: over S
    assert persuasion_gain(0.3, 0.4, keep_negative=False) == 0.0
    assert persuasion_gain(1.0, 0.9995) == 1.0
    assert persuasion_gain(0.0, 0.0005) == 0.0
    assert persuasion_gain(0.6, 0.2, curve_exp=2.0) == pytest.approx(0.25)


def test_tag_and_format() -> None:
    good = "<thought>plan</thought>\n<argument>it helps</argument>"
    assert tag_reward(good) == 1.0 and format_reward(good) == 1.0
    assert tag_reward("<thought>plan</thought><argument>it helps") == 0.75
    assert tag_reward("<thought>a</thought><thought>b</thought><argument>c</argument>") == 0.5
    assert format_reward("<argument>x</argument>") == 0.0
    assert format_reward("hello <thought>a</thought><argument>b</argument>") == 0.0


def test_repetition_and_overlength() -> None:
    # bigrams of "a b c d": ab bc cd; "x a b" has xa ab: overlap 1/3 -> 0.1 - 1/3
    assert repetition_reward("a b c d", ["x a b"], n=2) == pytest.approx(0.1 - 1 / 3)
    # "a b a b a b": 5 bigrams, 2 distinct -> self-repetition 0.6
    assert repetition_reward("a b a b a b", [], n=2) == pytest.approx(-0.5)
    assert repetition_reward("a b c", ["d e f"], n=2) == 0.0  # under the threshold: no penalty
    assert repetition_reward("short", ["short"], n=2) == 0.0
    assert overlength_reward(200, 200) == 0.0
    assert overlength_reward(250, 200) == pytest.approx(-0.5)
    assert overlength_reward(400, 200) == -1.0


def test_turn_reward_weights_the_format_terms() -> None:
    aux = {"tag": 1.0, "format": 1.0, "repeat": -0.5, "overlength": 0.0}
    assert turn_reward(0.3, aux) == pytest.approx(0.3 + 0.1 * 1.5)
    with pytest.raises(ValueError, match="missing terms"):
        turn_reward(0.3, {"tag": 1.0})


def test_dialogue_metrics() -> None:
    args = ["a b c", "b c d", "x y z"]
    # turn 2: {bc, cd} with bc seen -> 1/2; turn 3: 0 -> mean 1/4
    assert repetition_rate(args, 2) == pytest.approx(0.25)
    assert distinct_n(args, 2) == pytest.approx(5 / 6)
    assert distinct_n(args, 1) == pytest.approx(7 / 9)
    assert repetition_rate(["a b"], 2) == 0.0
