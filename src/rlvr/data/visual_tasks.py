"""Synthetic visual tasks, drawn with PIL and seeded: what a tiny VLM can learn on a CPU.

Registered generators (``synthetic`` dataset specs name them):

- ``red_quadrant``: which quadrant holds the red square ("top-left" ...); ``exact_match`` on
  ``<answer>``.
- ``shape_colour``: the colour of the one shape; ``exact_match`` on ``<answer>`` (``blank``: the control).
- ``shape_count``: how many shapes (1 to ``max_shapes``); ``math`` on ``<answer>``.
- ``shape_box``: the pixel box ``[x1, y1, x2, y2]`` of the one shape named by colour and kind, among
  distractors (or, with ``cell``, its box in grid lines on a coarse grid); ``iou`` (give it V-Triune's
  dynamic threshold through ``reward.schedules``).
- ``colour_detection``: every shape's box labelled by its colour, for V-Triune's ``vtriune_detection``
  (``det_reward_ratio`` default: mAP 1, label-first IoU 1, completeness weight 0.5).

Shapes never overlap (2-pixel gap). A box is the drawn shape's bounding box in pixel coordinates (PIL
draws inclusive corners). Each sample's ``metadata["gold"]`` is a completion that its verifier scores
as fully correct (a task checks its own gold answer), and its ``response`` too (SFT demonstrations); the
image is an ``ImageRef`` holding the PIL image.
"""

from __future__ import annotations

import json
import random
from typing import Any

from rlvr.data.generators import GENERATORS
from rlvr.data.images import IMAGE_PLACEHOLDER, ImageRef
from rlvr.data.sample import RewardSpec, Sample

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (40, 70, 220), "yellow": (230, 200, 30)}
KINDS = ("square", "circle", "triangle")
QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")
DEFAULT_DET_RATIO = {"map": 1.0, "iou_max_label_first": 1.0, "iou_completeness": 0.5}
Box = tuple[int, int, int, int]


def _draw(draw: Any, kind: str, box: Box, colour: str) -> None:
    x1, y1, x2, y2 = box
    fill = COLOURS[colour]
    if kind == "square":
        draw.rectangle(box, fill=fill)
    elif kind == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(x1, y2), (x2, y2), ((x1 + x2) // 2, y1)], fill=fill)


def _free(box: Box, taken: list[Box], gap: int = 2) -> bool:
    return all(
        box[2] + gap < t[0] or t[2] + gap < box[0] or box[3] + gap < t[1] or t[3] + gap < box[1]
        for t in taken
    )


def _place(rng: random.Random, size: int, side: int, taken: list[Box], area: Box | None = None) -> Box:
    """A ``side`` x ``side`` box inside ``area`` (default: the canvas) clear of ``taken``."""
    ax1, ay1, ax2, ay2 = area or (0, 0, size - 1, size - 1)
    for _ in range(1000):
        x, y = rng.randint(ax1, ax2 - side + 1), rng.randint(ay1, ay2 - side + 1)
        box = (x, y, x + side - 1, y + side - 1)
        if _free(box, taken):
            return box
    raise ValueError(
        f"cannot place a {side}-pixel shape on a {size}-pixel canvas; use fewer or smaller shapes"
    )


def _scene(shapes: list[tuple[str, str, Box]], size: int) -> Any:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for kind, colour, box in shapes:
        _draw(draw, kind, box, colour)
    return image


def _blank(image: Any) -> Any:
    """A white image of the same size (the text-only control: the question without the picture)."""
    from PIL import Image

    return Image.new("RGB", image.size, (255, 255, 255))


def _sample(task: str, i: int, question: str, image: Any, reward: RewardSpec, gold: str) -> Sample:
    return Sample(
        id=f"{task}-{i}",
        prompt=IMAGE_PLACEHOLDER + question,
        data_source=task,
        reward=reward,
        images=[ImageRef(pil=image)],
        response=gold,
        metadata={"gold": gold},
    )


def _answer(text: str) -> str:
    return f"<think>\nI look at the image.\n</think>\n<answer>\n{text}\n</answer>"


@GENERATORS.register("red_quadrant")
def red_quadrant(
    size: int, seed: int, image_size: int = 64, side: int = 10, distractors: int = 2, blank: bool = False
) -> list[Sample]:
    """The red square lies wholly in one quadrant; other-coloured squares are distractors anywhere.
    ``blank``: every image white (the text-only control; the answers are those of the drawn scenes)."""
    rng, half, out = random.Random(seed), image_size // 2, []
    areas = {
        "top-left": (0, 0, half - 1, half - 1),
        "top-right": (half, 0, image_size - 1, half - 1),
        "bottom-left": (0, half, half - 1, image_size - 1),
        "bottom-right": (half, half, image_size - 1, image_size - 1),
    }
    for i in range(size):
        quadrant = rng.choice(QUADRANTS)
        red = _place(rng, image_size, side, [], areas[quadrant])
        shapes = [("square", "red", red)]
        for _ in range(distractors):
            box = _place(rng, image_size, side, [s[2] for s in shapes])
            shapes.append(("square", rng.choice(["green", "blue", "yellow"]), box))
        question = (
            "Which quadrant holds the red square? Answer top-left, top-right, bottom-left or bottom-right."
        )
        reward = RewardSpec("exact_match", quadrant, {"answer_tag": "answer"})
        image = _scene(shapes, image_size)
        out.append(
            _sample("red_quadrant", i, question, _blank(image) if blank else image, reward, _answer(quadrant))
        )
    return out


@GENERATORS.register("shape_colour")
def shape_colour(
    size: int, seed: int, image_size: int = 64, side: int = 16, blank: bool = False
) -> list[Sample]:
    """One shape of random kind, colour and place: which colour is it (red, green, blue or yellow)?
    ``blank``: every image white (the text-only control). At ``image_size=112, side=28`` (16 image tokens
    for the tiny Qwen2.5-VL) a tiny VLM learns it by SFT in a few hundred steps
    (tests/vision/test_vlm_learns.py); at 64 pixels (4 image tokens) it did not learn it at all."""
    rng, out = random.Random(seed), []
    for i in range(size):
        colour, kind = rng.choice(list(COLOURS)), rng.choice(KINDS)
        image = _scene([(kind, colour, _place(rng, image_size, side, []))], image_size)
        question = "What colour is the shape? Answer red, green, blue or yellow."
        reward = RewardSpec("exact_match", colour, {"answer_tag": "answer"})
        out.append(
            _sample("shape_colour", i, question, _blank(image) if blank else image, reward, _answer(colour))
        )
    return out


@GENERATORS.register("shape_count")
def shape_count(
    size: int, seed: int, image_size: int = 64, side: int = 10, max_shapes: int = 5
) -> list[Sample]:
    """1 to ``max_shapes`` shapes of random kind and colour."""
    rng, out = random.Random(seed), []
    for i in range(size):
        n, shapes = rng.randint(1, max_shapes), list[tuple[str, str, Box]]()
        for _ in range(n):
            box = _place(rng, image_size, side, [s[2] for s in shapes])
            shapes.append((rng.choice(KINDS), rng.choice(list(COLOURS)), box))
        reward = RewardSpec("math", str(n), {"answer_tag": "answer"})
        question = "How many shapes are there?"
        out.append(_sample("shape_count", i, question, _scene(shapes, image_size), reward, _answer(str(n))))
    return out


def _distinct_shapes(rng: random.Random, n: int, image_size: int, side: int) -> list[tuple[str, str, Box]]:
    """``n`` shapes with distinct colours (so a colour names one shape)."""
    if n > len(COLOURS):
        raise ValueError(f"at most {len(COLOURS)} shapes of distinct colours, got {n}")
    shapes: list[tuple[str, str, Box]] = []
    for colour in rng.sample(list(COLOURS), n):
        side_k = rng.randint(side, side * 2)
        shapes.append((rng.choice(KINDS), colour, _place(rng, image_size, side_k, [s[2] for s in shapes])))
    return shapes


def _on_grid(scene: list[tuple[str, str, Box]], cell: int) -> list[tuple[str, str, Box]]:
    """Shapes placed in grid units (``cell`` pixels each) -> the same shapes in pixels."""
    return [
        (k, c, (x1 * cell, y1 * cell, (x2 + 1) * cell - 1, (y2 + 1) * cell - 1))
        for k, c, (x1, y1, x2, y2) in scene
    ]


@GENERATORS.register("shape_box")
def shape_box(
    size: int, seed: int, image_size: int = 64, side: int = 8, shapes: int = 3, cell: int = 1
) -> list[Sample]:
    """The box of one named shape (its colour and kind) among ``shapes - 1`` distractors.

    ``cell`` > 1: shapes sit on a grid of ``cell``-pixel cells (sides ``side // cell`` to twice that many
    cells) and the box is asked in grid lines, ``[x1, y1, x2, y2]`` with ``0 <= x1 < x2 <= image_size //
    cell`` (a shape covering cells 2 to 4 spans 2 to 5): fewer, coarser coordinates to learn."""
    rng, out = random.Random(seed), []
    grid = image_size // cell
    for i in range(size):
        if cell == 1:
            scene = _distinct_shapes(rng, shapes, image_size, side)
            kind, colour, box = scene[0]
            question = f"Give the box [x1, y1, x2, y2] of the {colour} {kind} in pixels."
        else:
            cells = _distinct_shapes(rng, shapes, grid, side // cell)
            scene = _on_grid(cells, cell)
            kind, colour, (x1, y1, x2, y2) = cells[0]
            box = (x1, y1, x2 + 1, y2 + 1)
            question = f"Give the box [x1, y1, x2, y2] of the {colour} {kind} on a {grid}x{grid} grid."
        reward = RewardSpec("iou", [list(box)], {"answer_tag": "answer"})
        gold = _answer(json.dumps(list(box)))
        out.append(_sample("shape_box", i, question, _scene(scene, image_size), reward, gold))
    return out


@GENERATORS.register("colour_detection")
def colour_detection(
    size: int,
    seed: int,
    image_size: int = 64,
    side: int = 8,
    max_shapes: int = 4,
    det_reward_ratio: dict[str, float] | None = None,
) -> list[Sample]:
    """Every shape's box, labelled by its colour (1 to ``max_shapes`` shapes, distinct colours)."""
    rng, out = random.Random(seed), []
    ratio = dict(det_reward_ratio or DEFAULT_DET_RATIO)
    for i in range(size):
        scene = _distinct_shapes(rng, rng.randint(1, max_shapes), image_size, side)
        truth = [{"bbox_2d": list(box), "label": colour} for _, colour, box in scene]
        question = 'Detect every shape; answer [{"bbox_2d": [x1, y1, x2, y2], "label": colour}, ...].'
        reward = RewardSpec("vtriune_detection", truth, {"det_reward_ratio": ratio})
        gold = _answer(json.dumps(truth))
        out.append(_sample("colour_detection", i, question, _scene(scene, image_size), reward, gold))
    return out
