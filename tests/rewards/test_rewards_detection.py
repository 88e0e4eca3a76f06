import contextlib
import io
import random

import pytest

from rlvr.rewards import VERIFIERS
from rlvr.rewards.verifiers.detection import average_precision, box_iou, greedy_match, parse_boxes

iou_v, det_v = VERIFIERS.get("iou"), VERIFIERS.get("detection")


def test_box_iou_by_hand():
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0  # touching edges
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_parse_boxes_formats():
    qwen = "[{'bbox_2d': [1, 2, 3, 4], 'label': 'dog', 'confidence': 0.9}, {'bbox_2d': [5, 6, 7, 8], 'label': 'cat'}]"
    assert parse_boxes(qwen) == [((1, 2, 3, 4), 0.9), ((5, 6, 7, 8), None)]
    assert parse_boxes("The box is [10, 20.5, 30, 40].") == [((10, 20.5, 30, 40), None)]
    assert parse_boxes("[[0,0,1,1],[2,2,3,3,0.4]]") == [((0, 0, 1, 1), None), ((2, 2, 3, 3), 0.4)]
    loose = "{'bbox_2d': [1,2,3,4], 'confidence': 0.7} and {'bbox_2d': [5,6,7,8], 'score': 0.2}"
    assert parse_boxes(loose) == [((1, 2, 3, 4), 0.7), ((5, 6, 7, 8), 0.2)]
    assert parse_boxes("no boxes [1, 2]") == []


def test_greedy_match_takes_global_max_first():
    preds = [(0, 0, 10, 10), (0, 0, 10, 8)]
    gts = [(0, 0, 10, 9), (0, 0, 10, 7)]
    matches = greedy_match(preds, gts)
    assert [(i, j) for i, j, _ in matches] == [(0, 0), (1, 1)]
    assert [m[2] for m in matches] == pytest.approx([0.9, 0.875])
    assert greedy_match(preds, gts, threshold=0.88) == [(0, 0, pytest.approx(0.9))]


def test_iou_score_mean_over_gt_with_size_penalty():
    gt = [[0, 0, 10, 10], [20, 20, 30, 30]]
    two = "<answer>[[0,0,10,10],[20,20,30,25]]</answer>"  # IoUs 1.0 and 0.5
    res = iou_v(two, gt)
    assert res.score == pytest.approx(0.75) and res.correct is True
    assert res.info["metrics"] == {"iou@0.5": 1.0, "iou@0.75": 0.5, "iou@0.95": 0.5, "iou@0.99": 0.5}
    assert iou_v(two, gt, iou_threshold=0.6).score == pytest.approx(0.5)  # the 0.5 pair scores 0
    assert iou_v(two, gt, iou_threshold=0.6).correct is False
    assert iou_v("<answer>[0,0,10,10]</answer>", gt).score == pytest.approx(0.5 * 0.6)  # one box missing
    three = "<answer>[[0,0,10,10],[20,20,30,25],[50,50,60,60]]</answer>"
    assert iou_v(three, gt).score == pytest.approx(0.75 * 0.6)
    assert iou_v(three, gt, penalty_base=1.0).score == pytest.approx(0.75)
    dup = "<answer>[[0,0,10,10],[0,0,10,10]]</answer>"  # duplicates are dropped, as in V-Triune
    assert iou_v(dup, [0, 0, 10, 10]).score == 1.0


def test_iou_without_boxes_and_bad_gt():
    res = iou_v("<answer>none</answer>", [0, 0, 1, 1])
    assert (res.score, res.correct, res.info["reason"]) == (0.0, False, "no boxes found")
    with pytest.raises(ValueError):
        iou_v("[0,0,1,1]", [])


def test_average_precision_by_hand():
    gt = [(0, 0, 10, 10)]
    tp, fp = (0, 0, 10, 10), (50, 50, 60, 60)
    assert average_precision([tp], [1.0], gt) == pytest.approx(1.0)
    assert average_precision([fp, tp], [0.9, 0.8], gt) == pytest.approx(0.5)  # precision 1/2 at recall 1
    assert average_precision([tp, fp], [0.9, 0.8], gt) == pytest.approx(1.0)
    assert average_precision([tp], [1.0], gt + [(20, 20, 30, 30)]) == pytest.approx(51 / 101)  # recall 0.5
    # IoU 0.78: a hit at 6 of the 10 thresholds 0.50..0.95
    assert average_precision([(0, 0, 10, 7.8)], [1.0], gt) == pytest.approx(0.6)
    assert average_precision([], [], gt) == 0.0


def test_detection_confidence_or_order():
    gt = [[0, 0, 10, 10]]
    assert det_v("<answer>[[50,50,60,60],[0,0,10,10]]</answer>", gt).score == pytest.approx(0.5)
    with_conf = "<answer>[[50,50,60,60,0.1],[0,0,10,10,0.9]]</answer>"
    res = det_v(with_conf, gt)
    assert res.score == pytest.approx(1.0) and res.correct is None
    assert res.info["metrics"]["map50"] == pytest.approx(1.0)
    assert det_v("nothing", gt).info["metrics"]["map"] == 0.0


def _random_case(rng):
    gts = []
    for _ in range(rng.randint(1, 5)):
        x, y = rng.uniform(0, 80), rng.uniform(0, 80)
        gts.append((x, y, x + rng.uniform(5, 20), y + rng.uniform(5, 20)))
    preds = []
    for g in gts:
        for _ in range(rng.randint(0, 2)):
            j = [rng.gauss(0, 2) for _ in range(4)]
            preds.append(
                (
                    g[0] + j[0],
                    g[1] + j[1],
                    max(g[0] + j[0] + 1, g[2] + j[2]),
                    max(g[1] + j[1] + 1, g[3] + j[3]),
                )
            )
    for _ in range(rng.randint(0, 3)):
        x, y = rng.uniform(0, 90), rng.uniform(0, 90)
        preds.append((x, y, x + rng.uniform(1, 15), y + rng.uniform(1, 15)))
    if not preds:
        preds.append(gts[0])
    return preds, [rng.random() for _ in preds], gts


def _coco_stats(preds, scores, gts):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": xywh(b),
                "area": xywh(b)[2] * xywh(b)[3],
                "iscrowd": 0,
            }
            for k, b in enumerate(gts)
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(
            [
                {"image_id": 1, "category_id": 1, "bbox": xywh(b), "score": s}
                for b, s in zip(preds, scores, strict=True)
            ]
        )
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_average_precision_matches_pycocotools():
    pytest.importorskip("pycocotools")
    rng = random.Random(0)
    for _ in range(25):
        preds, scores, gts = _random_case(rng)
        stats = _coco_stats(preds, scores, gts)
        assert average_precision(preds, scores, gts) == pytest.approx(stats[0], abs=1e-9)
        assert average_precision(preds, scores, gts, (0.5,)) == pytest.approx(stats[1], abs=1e-9)
        assert average_precision(preds, scores, gts, (0.75,)) == pytest.approx(stats[2], abs=1e-9)
