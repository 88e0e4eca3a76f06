"""``iou`` and ``detection``: bounding boxes ``[x1, y1, x2, y2]`` parsed from text against ground truth."""

from __future__ import annotations

import json
import re
from typing import Any, TypeGuard

from rlvr.rewards.extract import tagged
from rlvr.rewards.types import VERIFIERS, RewardResult

Box = tuple[float, float, float, float]
COCO_IOU_THRESHOLDS = tuple(0.5 + 0.05 * i for i in range(10))  # 0.50:0.05:0.95
HIT_THRESHOLDS = (0.5, 0.75, 0.95, 0.99)

_NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_BOX_RE = re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*(?:,\s*({_NUM})\s*)?\]")
_CONF_RE = re.compile(rf"[\"']?(?:confidence|score|conf)[\"']?\s*[:=]\s*({_NUM})")
_BOX_KEYS = ("bbox_2d", "bbox", "box")
_CONF_KEYS = ("confidence", "score", "conf")


def _numbers(obj: Any, n: int) -> TypeGuard[list[int | float]]:
    """Whether ``obj`` is a list of ``n`` numbers (bools excluded)."""
    return (
        isinstance(obj, list)
        and len(obj) == n
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in obj)
    )


def _box(values: list[Any]) -> Box:
    """Four numbers (or numeric strings) ``[x1, y1, x2, y2]`` as a box of floats."""
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


def _walk(obj: Any, out: list[tuple[Box, float | None]]) -> None:
    """Collect boxes from parsed JSON: ``[x1,y1,x2,y2]``, ``[x1,y1,x2,y2,conf]``, ``{"bbox_2d": [...]}``."""
    if isinstance(obj, dict):
        box = next((obj[k] for k in _BOX_KEYS if k in obj), None)
        if _numbers(box, 4):
            conf = next((obj[k] for k in _CONF_KEYS if _numbers([obj.get(k)], 1)), None)
            out.append((_box(box), None if conf is None else float(conf)))
    elif _numbers(obj, 4):
        out.append((_box(obj), None))
    elif _numbers(obj, 5):
        out.append((_box(obj[:4]), float(obj[4])))
    elif isinstance(obj, list):
        for item in obj:
            _walk(item, out)


def parse_boxes(text: str) -> list[tuple[Box, float | None]]:
    """Boxes with optional confidences, in the order written.

    JSON first (Qwen-VL style ``[{"bbox_2d": [...], "label": ..., "confidence": 0.9}]``, nested lists;
    single quotes accepted), else every ``[a, b, c, d]`` or ``[a, b, c, d, conf]`` in the text, taking a
    ``confidence``/``score`` key that follows a box inside the same ``{...}`` as its confidence.
    """
    candidate = text.replace("'", '"').strip()
    starts = [i for i in (candidate.find("["), candidate.find("{")) if i >= 0]
    end = max(candidate.rfind("]"), candidate.rfind("}"))
    for chunk in (candidate, candidate[min(starts) : end + 1] if starts and end > 0 else ""):
        try:
            parsed = json.loads(chunk)
        except ValueError:
            continue
        out: list[tuple[Box, float | None]] = []
        _walk(parsed, out)
        if out:
            return out
    matches = list(_BOX_RE.finditer(text))
    out = []
    for k, m in enumerate(matches):
        conf = m.group(5)
        if conf is None:
            tail = text[m.end() : matches[k + 1].start() if k + 1 < len(matches) else len(text)]
            found = _CONF_RE.search(tail.split("}")[0])
            conf = found.group(1) if found else None
        out.append((_box([m.group(i) for i in range(1, 5)]), None if conf is None else float(conf)))
    return out


def as_boxes(ground_truth: Any) -> list[Box]:
    """Ground truth as a list of boxes: one box, a list of boxes, box dicts, or text holding boxes."""
    found: list[tuple[Box, float | None]] = []
    if isinstance(ground_truth, str):
        found = parse_boxes(ground_truth)
    else:
        _walk(ground_truth, found)
    if not found:
        raise ValueError(f"no ground-truth boxes in {ground_truth!r}")
    return [box for box, _ in found]


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes (continuous coordinates, no +1)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    return inter / (union - inter) if union - inter > 0 else 0.0


def greedy_match(preds: list[Box], gts: list[Box], threshold: float = 0.0) -> list[tuple[int, int, float]]:
    """V-Triune greedy matching: repeatedly pair the unmatched (pred, gt) with the highest IoU; stop when
    that IoU is below ``threshold`` or one side runs out. Returns ``(pred_idx, gt_idx, iou)`` triples."""
    pairs = sorted(
        ((box_iou(p, g), i, j) for i, p in enumerate(preds) for j, g in enumerate(gts)),
        key=lambda t: -t[0],
    )
    used_p, used_g, matches = set(), set(), []
    for iou, i, j in pairs:
        if iou < threshold:
            break
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            matches.append((i, j, iou))
    return matches


def _ap_at(ious: list[list[float]], num_gt: int, t: float) -> float:
    """COCO single-class AP at one IoU threshold; ``ious`` rows are detections sorted by confidence."""
    matched, tps = [False] * num_gt, []
    for row in ious:
        best, m = min(t, 1 - 1e-10), -1
        for g, iou in enumerate(row):
            if matched[g] or iou < best:
                continue
            best, m = iou, g
        if m >= 0:
            matched[m] = True
        tps.append(m >= 0)
    recall, precision, tp = [], [], 0
    for d, hit in enumerate(tps):
        tp += hit
        recall.append(tp / num_gt)
        precision.append(tp / (d + 1))
    for d in range(len(precision) - 2, -1, -1):  # precision envelope, non-increasing in recall
        precision[d] = max(precision[d], precision[d + 1])
    total, d = 0.0, 0
    for r in (k / 100 for k in range(101)):  # 101-point interpolation
        while d < len(recall) and recall[d] < r:
            d += 1
        total += precision[d] if d < len(recall) else 0.0
    return total / 101


def average_precision(
    preds: list[Box], scores: list[float], gts: list[Box], thresholds=COCO_IOU_THRESHOLDS, max_dets: int = 100
) -> float:
    """COCO-style AP for one image and one class, averaged over ``thresholds`` (default 0.50:0.95).

    Detections are ranked by score (stable, so equal scores keep their order) and cut to ``max_dets``;
    each is matched to the unmatched ground truth of highest IoU >= t; precision is made monotone and
    sampled at 101 recall points, as pycocotools' ``COCOeval`` does.
    """
    order = sorted(range(len(preds)), key=lambda i: -scores[i])[:max_dets]
    ious = [[box_iou(preds[i], g) for g in gts] for i in order]
    return sum(_ap_at(ious, len(gts), t) for t in thresholds) / len(thresholds)


def _boxes_from(completion: str, answer_tag: str | None) -> list[tuple[Box, float | None]]:
    inner = tagged(completion, answer_tag) if answer_tag else None
    return parse_boxes(completion if inner is None else inner)


def _hit_rates(preds: list[Box], gts: list[Box]) -> dict[str, float]:
    return {f"iou@{t:g}": len(greedy_match(preds, gts, t)) / len(gts) for t in HIT_THRESHOLDS}


@VERIFIERS.register("iou")
def iou(
    completion: str,
    ground_truth: Any,
    *,
    iou_threshold: float = 0.0,
    penalty_base: float = 0.6,
    answer_tag: str | None = "answer",
) -> RewardResult:
    """Score = (sum of matched IoUs that reach ``iou_threshold``) / #gt * penalty_base ** |#pred - #gt|.

    As in V-Triune's official code: boxes come from ``<answer_tag>`` (or the whole text if absent),
    duplicates dropped; greedy max-IoU matching; a pair below the (dynamic, see ``ThresholdSchedule``)
    threshold scores 0. ``correct``: as many boxes as ground truth and every gt matched at IoU >=
    max(iou_threshold, 0.5). ``info["metrics"]`` has hit rates ``iou@0.5/0.75/0.95/0.99`` (fraction of gt
    matched at that IoU). No box found: score 0.0, correct False, reason "no boxes found".
    """
    gts = as_boxes(ground_truth)
    preds = list(dict.fromkeys(box for box, _ in _boxes_from(completion, answer_tag)))
    if not preds:
        return RewardResult(0.0, correct=False, info={"reason": "no boxes found", "num_gt": len(gts)})
    matches = greedy_match(preds, gts, iou_threshold)
    penalty = penalty_base ** abs(len(preds) - len(gts))
    score = sum(m[2] for m in matches) / len(gts) * penalty
    bar = max(iou_threshold, 0.5)
    correct = len(preds) == len(gts) and len(matches) == len(gts) and all(m[2] >= bar for m in matches)
    info = {"num_pred": len(preds), "num_gt": len(gts), "size_penalty": penalty}
    return RewardResult(score, correct=correct, info={**info, "metrics": _hit_rates(preds, gts)})


@VERIFIERS.register("detection")
def detection(
    completion: str, ground_truth: Any, *, answer_tag: str | None = "answer", max_dets: int = 100
) -> RewardResult:
    """Score = COCO AP averaged over IoU 0.50:0.05:0.95 (single class, 101-point interpolation).

    Boxes come from ``<answer_tag>`` (or the whole text). A per-box confidence is used when written
    (``[x1,y1,x2,y2,conf]`` or a ``confidence``/``score`` key) when every box has one; otherwise boxes
    are ranked in the order written (first = most confident). ``info["metrics"]``: ``map``, ``map50``,
    ``map75`` and hit rates ``iou@0.5/0.75/0.95/0.99``. ``correct`` is None. No box: score 0.0.
    """
    gts = as_boxes(ground_truth)
    found = _boxes_from(completion, answer_tag)
    if not found:
        zeros = {"map": 0.0, "map50": 0.0, "map75": 0.0, **dict.fromkeys(_hit_rates([], gts), 0.0)}
        return RewardResult(0.0, correct=None, info={"reason": "no boxes found", "metrics": zeros})
    preds = [box for box, _ in found]
    if all(conf is not None for _, conf in found):
        scores = [float(conf) for _, conf in found]  # type: ignore[arg-type]
    else:
        scores = [float(len(found) - k) for k in range(len(found))]  # order as confidence
    metrics = {
        "map": average_precision(preds, scores, gts, max_dets=max_dets),
        "map50": average_precision(preds, scores, gts, (0.5,), max_dets),
        "map75": average_precision(preds, scores, gts, (0.75,), max_dets),
        **_hit_rates(preds, gts),
    }
    info = {"num_pred": len(preds), "num_gt": len(gts), "metrics": metrics}
    return RewardResult(metrics["map"], correct=None, info=info)
