"""Synthetic visual tasks: seeded, drawn as described, and each gold answer passes its own verifier."""

from __future__ import annotations

import pytest

import rlvr.rewards  # noqa: F401  (registers the verifiers)
from rlvr.data.generators import generate
from rlvr.rewards.router import ScoreRequest, score_one
from rlvr.rewards.schemas import check_reward_spec

TASKS = ("red_quadrant", "shape_count", "shape_box", "colour_detection")


@pytest.mark.parametrize("task", TASKS)
def test_gold_answers_pass_their_own_verifier(task):
    samples = generate(task, size=12, seed=3)
    for s in samples:
        assert check_reward_spec(s.reward) is None
        res = score_one(ScoreRequest(s.metadata["gold"], s.reward))
        assert res.error is None, res.error
        assert res.score == pytest.approx(1.0), (s.id, res)
        wrong = score_one(ScoreRequest("<answer>nothing</answer>", s.reward))
        assert wrong.score < 1.0


@pytest.mark.parametrize("task", TASKS)
def test_seeded(task):
    a, b = generate(task, size=3, seed=7), generate(task, size=3, seed=7)
    assert [s.reward.ground_truth for s in a] == [s.reward.ground_truth for s in b]
    assert [s.images[0].load().tobytes() for s in a] == [s.images[0].load().tobytes() for s in b]
    c = generate(task, size=3, seed=8)
    assert [s.images[0].load().tobytes() for s in a] != [s.images[0].load().tobytes() for s in c]


def test_pictures_match_the_answers():
    for s in generate("red_quadrant", size=20, seed=0):
        image = s.images[0].load()
        reds = [(x, y) for x in range(64) for y in range(64) if image.getpixel((x, y)) == (220, 30, 30)]
        assert len(reds) == 100  # the 10x10 red square, whole
        xs, ys = {x >= 32 for x, _ in reds}, {y >= 32 for _, y in reds}
        assert len(xs) == len(ys) == 1  # within one quadrant
        name = ("bottom" if ys.pop() else "top") + "-" + ("right" if xs.pop() else "left")
        assert s.reward.ground_truth == name
    for s in generate("colour_detection", size=10, seed=1):
        image = s.images[0].load()
        for obj in s.reward.ground_truth:  # each box's centre has its colour
            x1, y1, x2, y2 = obj["bbox_2d"]
            from rlvr.data.visual_tasks import COLOURS

            assert image.getpixel(((x1 + x2) // 2, (y1 + 3 * y2) // 4)) == COLOURS[obj["label"]]


def test_shape_box_on_a_grid():
    """``cell``: one shape on grid-aligned cells; the box is in grid lines and covers the drawn pixels."""
    from rlvr.data.visual_tasks import COLOURS

    samples = generate("shape_box", size=20, seed=0, image_size=112, side=28, shapes=1, cell=14)
    for s in samples:
        [(x1, y1, x2, y2)] = s.reward.ground_truth
        assert 0 <= x1 < x2 <= 8 and 0 <= y1 < y2 <= 8 and 2 <= x2 - x1 <= 4 and x2 - x1 == y2 - y1
        assert "on a 8x8 grid" in s.prompt
        image = s.images[0].load()
        coloured = [
            (x, y) for x in range(112) for y in range(112) if image.getpixel((x, y)) in COLOURS.values()
        ]
        xs, ys = [x for x, _ in coloured], [y for _, y in coloured]
        assert (min(xs), min(ys)) == (14 * x1, 14 * y1)
        assert (max(xs), max(ys)) == (14 * x2 - 1, 14 * y2 - 1)
        assert score_one(ScoreRequest(s.metadata["gold"], s.reward)).score == pytest.approx(1.0)
