"""V-Triune's labelled-box math (arXiv 2505.18129), written from the official reward server's formulas.

Official code: github.com/MiniMax-AI/One-RL-to-See-Them-All, ``reward_server/utils/det_helper.py`` and
``reward_server/verify.py`` (``DetectionVerifier``). Pure functions over lists of ``LabelledBox``:

- ``parse_labelled_boxes``: ``[{"bbox_2d": [x1, y1, x2, y2], "label": str}, ...]`` from text, with the
  official repairs (``[[``/``]]`` flattened, a list cut after its last complete ``}``, single quotes);
  a box is kept only with 4 numbers, ``x1 <= x2``, ``y1 <= y2`` and a string label; repeated
  positions dropped (first kept).
- ``match_max_iou_first`` / ``match_max_label_first``: the two greedy matchers.
- ``iou_scores``: mean IoU = sum(matched IoU) / #gt; completeness = 1 - (miss + false alarm) / 2 with
  miss = (#gt - #matched) / #gt and false alarm = (#pred - #matched) / #pred;
  weighted = (1 - c) * mean IoU + c * completeness, c = ``det_reward_ratio["iou_completeness"]``.
- ``labelled_map``: COCO mAP, mAP50, mAP75 over the ground-truth labels (pycocotools' ``COCOeval``
  with every score 1.0, so detections rank in the order written); predictions whose label is not a
  ground-truth label are dropped; none left -> zeros.
- ``normalize_to_1000``: ``int(x / width * 1000)`` per coordinate (the resized image size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rlvr.rewards.verifiers.detection import COCO_IOU_THRESHOLDS, Box, average_precision, box_iou

# thresholds the official verifier evaluates; "average" is the mean of the weighted score over them
OFFICIAL_IOU_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class LabelledBox:
    box: Box
    label: str


@dataclass(frozen=True)
class Match:
    pred: int
    gt: int
    iou: float  # 0.0 when the labels differ (max-IoU-first matcher)


def _valid(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("label"), str):
        return False
    b = item.get("bbox_2d")
    if not isinstance(b, list) or len(b) != 4 or not all(isinstance(v, int | float) for v in b):
        return False
    return b[0] <= b[2] and b[1] <= b[3]


def boxes_from_items(items: list[Any]) -> list[LabelledBox]:
    """Valid items as boxes, in order, dropping a box whose position repeats an earlier one."""
    seen: set[Box] = set()
    out = []
    for item in items:
        if not _valid(item):
            continue
        box: Box = tuple(float(v) for v in item["bbox_2d"])  # type: ignore[assignment]
        if box not in seen:
            seen.add(box)
            out.append(LabelledBox(box, item["label"]))
    return out


def parse_labelled_boxes(text: str) -> list[LabelledBox]:
    """The labelled boxes in ``text`` (empty if it does not parse as such a list); see the module doc."""
    if not text or not text.strip():
        return []
    s = text.replace("[[", "[").replace("]]", "]")
    if not s.endswith("]"):
        s = s.rsplit("},", 1)[0] + "}]"
    s = s.replace("'", '"').replace("\\", "")
    try:
        items = json.loads(s)
    except ValueError:
        return []
    return boxes_from_items(items) if isinstance(items, list) else []


def normalize_to_1000(boxes: list[LabelledBox], width: float, height: float) -> list[LabelledBox]:
    """Pixel boxes of a ``width`` x ``height`` (resized) image -> 0-1000 integer coordinates (truncated)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got width={width}, height={height}")
    out = []
    for b in boxes:
        x1, y1, x2, y2 = b.box
        scaled = (
            int(x1 / width * 1000.0),
            int(y1 / height * 1000.0),
            int(x2 / width * 1000.0),
            int(y2 / height * 1000.0),
        )
        out.append(LabelledBox(tuple(float(v) for v in scaled), b.label))  # type: ignore[arg-type]
    return out


def match_max_iou_first(preds: list[LabelledBox], gts: list[LabelledBox], threshold: float) -> list[Match]:
    """Repeatedly take the unmatched (pred, gt) pair of highest IoU (first in pred-major order on ties);
    stop when it is below ``threshold``. The pair is matched whatever the labels; its IoU counts only
    when the labels agree (case-insensitive), else 0.

    Note: the released code (``greedy_match_by_iou_max_iou_first``) finds that maximum but, because the
    loop variables are reused, then pairs the *last* unmatched pred with the *last* unmatched gt; this is
    the matcher its docstring describes. ``match_max_iou_first_as_released`` reproduces the release.
    """
    left_p, left_g, out = list(range(len(preds))), list(range(len(gts))), []
    while left_p and left_g:
        best, bi, bj = -1.0, -1, -1
        for i in left_p:
            for j in left_g:
                v = box_iou(preds[i].box, gts[j].box)
                if v > best:
                    best, bi, bj = v, i, j
        if best < threshold:
            break
        same = preds[bi].label.lower() == gts[bj].label.lower()
        out.append(Match(bi, bj, best if same else 0.0))
        left_p.remove(bi)
        left_g.remove(bj)
    return out


def match_max_iou_first_as_released(
    preds: list[LabelledBox], gts: list[LabelledBox], threshold: float
) -> list[Match]:
    """The released matcher's behaviour: while the highest unmatched IoU reaches ``threshold``, pair the
    last unmatched pred with the last unmatched gt, scoring that highest IoU if their labels agree."""
    left_p, left_g, out = list(range(len(preds))), list(range(len(gts))), []
    while left_p and left_g:
        best = max(box_iou(preds[i].box, gts[j].box) for i in left_p for j in left_g)
        if best < threshold:
            break
        i, j = left_p[-1], left_g[-1]
        same = preds[i].label.lower() == gts[j].label.lower()
        out.append(Match(i, j, best if same else 0.0))
        left_p.remove(i)
        left_g.remove(j)
    return out


def match_max_label_first(preds: list[LabelledBox], gts: list[LabelledBox], threshold: float) -> list[Match]:
    """For each gt in order: among the unmatched preds with its label (case-insensitive), the one of
    highest IoU (first on ties) is matched if that IoU reaches ``threshold``."""
    used: set[int] = set()
    out = []
    for j, g in enumerate(gts):
        cands = [
            (box_iou(p.box, g.box), i)
            for i, p in enumerate(preds)
            if i not in used and p.label.lower() == g.label.lower()
        ]
        if not cands:
            continue
        best = max(v for v, _ in cands)
        i = next(i for v, i in cands if v == best)
        if best >= threshold:
            out.append(Match(i, j, best))
            used.add(i)
    return out


def iou_scores(n_pred: int, n_gt: int, matches: list[Match], completeness_weight: float) -> dict[str, float]:
    """``mean_iou``, ``completeness``, ``precision``, ``recall`` and ``weighted`` (module doc) for one
    matching of ``n_pred`` predictions to ``n_gt`` >= 1 ground-truth boxes."""
    mean_iou = sum(m.iou for m in matches) / n_gt
    miss = (n_gt - len(matches)) / n_gt
    false_alarm = 0.0 if n_pred == 0 else (n_pred - len(matches)) / n_pred
    completeness = 1.0 - (miss + false_alarm) / 2.0
    weighted = mean_iou * (1.0 - completeness_weight) + completeness * completeness_weight
    return {
        "mean_iou": mean_iou,
        "completeness": completeness,
        "precision": 1.0 - false_alarm,
        "recall": 1.0 - miss,
        "weighted": weighted,
    }


def labelled_map(preds: list[LabelledBox], gts: list[LabelledBox]) -> dict[str, float]:
    """COCO ``map`` (IoU 0.50:0.95), ``map50``, ``map75``: each the mean over ground-truth labels of the
    single-class AP of that label's predictions (in written order) against its ground truth."""
    labels = list(dict.fromkeys(g.label for g in gts))
    kept = [p for p in preds if p.label in labels]
    if not kept:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0}
    sums = {"map": 0.0, "map50": 0.0, "map75": 0.0}
    for label in labels:
        p = [b.box for b in kept if b.label == label]
        g = [b.box for b in gts if b.label == label]
        scores = [1.0] * len(p)
        for key, thresholds in (("map", COCO_IOU_THRESHOLDS), ("map50", (0.5,)), ("map75", (0.75,))):
            sums[key] += average_precision(p, scores, g, thresholds) if p else 0.0
    return {k: v / len(labels) for k, v in sums.items()}
