"""V-Triune's official reward path (reward_server/verify.py, det_helper.py), numbers computed by hand."""

from __future__ import annotations

import json

import pytest

from rlvr.data.loaders import load_verl
from rlvr.data.sample import RewardSpec
from rlvr.rewards.router import ScoreRequest, score_one
from rlvr.rewards.schemas import check_reward_spec
from rlvr.rewards.verifiers.vtriune import (
    _check_params,
    check_det_reward_ratio,
    detection_format,
    final_reward,
    select_iou_threshold,
    think_answer_format,
    vtriune_detection,
    vtriune_math,
)
from rlvr.rewards.vtriune_boxes import (
    LabelledBox,
    labelled_map,
    match_max_iou_first,
    match_max_iou_first_as_released,
    match_max_label_first,
    normalize_to_1000,
    parse_labelled_boxes,
)


def _answer(boxes: list[dict]) -> str:
    return "<think>\nlook\n</think>\n<answer>\n" + json.dumps(boxes) + "\n</answer>"


def _b(box: list[float], label: str) -> dict:
    return {"bbox_2d": box, "label": label}


def _lb(box: list[float], label: str) -> LabelledBox:
    return LabelledBox(tuple(float(v) for v in box), label)  # type: ignore[arg-type]


# ---- final reward and ratios


def test_final_reward_is_the_normalised_blend_with_the_official_defaults():
    assert final_reward(0.5, 1.0) == pytest.approx(0.6 / 1.1)  # (1 * 0.5 + 0.1 * 1) / 1.1
    assert final_reward(1.0, 0.0, 0.9, 0.1) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="positive sum"):
        final_reward(1.0, 1.0, 0.0, 0.0)


def test_det_reward_ratio_missing_keys_are_zero_and_bad_values_raise():
    assert check_det_reward_ratio({"map": 1})["map50"] == 0.0
    with pytest.raises(ValueError, match=r"det_reward_ratio\['map'\] must be a number in \[0, 1\]"):
        check_det_reward_ratio({"map": 2})
    with pytest.raises(ValueError, match="unknown key 'mAP'"):
        check_det_reward_ratio({"mAP": 1})
    with pytest.raises(ValueError, match="sum to 0"):
        check_det_reward_ratio({"iou_completeness": 1})


def test_dynamic_threshold_follows_step_over_total_steps():
    got = [select_iou_threshold("dynamic", s, 100) for s in (0, 10, 11, 25, 26, 100)]
    assert got == [0.85, 0.85, 0.95, 0.95, 0.99, 0.99]
    assert select_iou_threshold("average", None, None) == "average"
    with pytest.raises(ValueError, match="step and total_steps"):
        select_iou_threshold("dynamic", None, None)


# ---- parsing, matching, mAP


def test_parse_repairs_truncation_drops_invalid_and_duplicate_boxes():
    text = "[{'bbox_2d': [0, 0, 10, 10], 'label': 'dog'}, {'bbox_2d': [0, 0, 10, 10], 'label': 'cat'}, "
    text += (
        "{'bbox_2d': [5, 5, 1, 1], 'label': 'cat'}, {'bbox_2d': [1, 2, 3, 4], 'label': 'cat'}, {'bbox_2d': [9"
    )
    # cut after the last complete '}', duplicate position dropped, x1 > x2 dropped
    assert parse_labelled_boxes(text) == [_lb([0, 0, 10, 10], "dog"), _lb([1, 2, 3, 4], "cat")]
    assert parse_labelled_boxes("[[1, 2, 3, 4]]") == []  # no label: not a box here
    assert parse_labelled_boxes("") == []


def test_normalisation_to_1000_truncates():
    # image 400 wide, 200 high: x * 2.5, y * 5
    got = normalize_to_1000([_lb([100, 50, 201, 101], "a")], width=400, height=200)
    assert got == [_lb([250, 250, 502, 505], "a")]


PREDS = [_lb([0, 0, 10, 10], "dog"), _lb([50, 50, 60, 60], "cat"), _lb([0, 0, 10, 8], "bird")]
GTS = [_lb([0, 0, 10, 10], "dog"), _lb([20, 20, 30, 30], "cat")]


def test_matchers_by_hand():
    # max-IoU-first: (dog, dog) IoU 1; what is left has IoU 0 < 0.5
    assert [(m.pred, m.gt, m.iou) for m in match_max_iou_first(PREDS, GTS, 0.5)] == [(0, 0, 1.0)]
    # as released: the maximum (1.0) decides, but the last pred (bird) pairs with the last gt (cat),
    # labels differ -> 0; then the max is 1.0 again and cat-pred pairs with dog-gt -> 0
    released = match_max_iou_first_as_released(PREDS, GTS, 0.5)
    assert [(m.pred, m.gt, m.iou) for m in released] == [(2, 1, 0.0), (1, 0, 0.0)]
    # label first: dog gt takes the dog pred (IoU 1); the cat pred has IoU 0 with the cat gt
    assert [(m.pred, m.gt, m.iou) for m in match_max_label_first(PREDS, GTS, 0.5)] == [(0, 0, 1.0)]
    # max-IoU-first pairs across labels and scores 0: bird (IoU 0.8 with dog) when dog pred is absent
    got = match_max_iou_first([_lb([0, 0, 10, 8], "bird")], GTS[:1], 0.5)
    assert [(m.pred, m.gt, m.iou) for m in got] == [(0, 0, 0.0)]


def test_labelled_map_by_hand():
    gts = [_lb([0, 0, 10, 10], "dog"), _lb([20, 0, 30, 10], "dog")]
    # written order: exact hit, miss, IoU 0.62 hit
    preds = [_lb([20, 0, 30, 10], "dog"), _lb([100, 100, 110, 110], "dog"), _lb([0, 0, 10, 6.2], "dog")]
    m = labelled_map(preds, gts)
    # t <= 0.62: recall 0.5, 0.5, 1 with precision 1, 1/2, 2/3 -> envelope 1, 2/3, 2/3;
    # 101 points: 51 at precision 1 (recall 0..0.5), 50 at 2/3 -> (51 + 100/3) / 101
    ap_low = (51 + 100 / 3) / 101
    ap_high = 51 / 101  # t > 0.62: only the exact hit
    assert m["map50"] == pytest.approx(ap_low)
    assert m["map75"] == pytest.approx(ap_high)
    assert m["map"] == pytest.approx((3 * ap_low + 7 * ap_high) / 10)  # 0.50, 0.55, 0.60 low
    # a label not in the ground truth is dropped; a gt label without predictions scores 0
    assert labelled_map(PREDS, GTS) == {"map": 0.5, "map50": 0.5, "map75": 0.5}
    assert labelled_map([_lb([0, 0, 1, 1], "x")], GTS) == {"map": 0.0, "map50": 0.0, "map75": 0.0}


# ---- the detection verifier end to end


def test_detection_one_box_by_hand():
    completion = _answer([_b([0, 0, 10, 5], "dog")])  # IoU 0.5 with the gt
    gt = [_b([0, 0, 10, 10], "dog")]
    ratio = {"iou_max_label_first": 1.0}
    res = vtriune_detection(completion, gt, det_reward_ratio=ratio, iou_threshold=0.5)
    assert res.info["accuracy"] == pytest.approx(0.5)
    assert res.info["format"] == 1.0
    assert res.score == pytest.approx(0.6 / 1.1)
    # "average": matched only at 0.5 of the 11 thresholds
    res = vtriune_detection(completion, gt, det_reward_ratio=ratio, format_ratio=0.0)
    assert res.score == pytest.approx(0.5 / 11)
    # dynamic at step 5 of 100: threshold 0.85 > 0.5, no match
    res = vtriune_detection(
        completion, gt, det_reward_ratio=ratio, iou_threshold="dynamic", step=5, total_steps=100
    )
    assert res.info["accuracy"] == 0.0


def test_detection_blend_completeness_and_size_penalty_by_hand():
    completion = _answer([_b(list(p.box), p.label) for p in PREDS] + [_b([0, 0, 10, 10], "dog")])  # + dup
    gt = "<answer>" + json.dumps([_b([0, 0, 10, 10], "DOG"), _b([20, 20, 30, 30], "cat")]) + "</answer>"
    ratio = {"iou_max_iou_first": 1, "iou_max_label_first": 1, "map": 1, "iou_completeness": 0.5}
    res = vtriune_detection(completion, gt, det_reward_ratio=ratio, iou_threshold=0.5, format_ratio=0.0)
    # 3 preds (duplicate dropped), 2 gts: penalty 0.6. One match at IoU 1:
    # mean IoU 1/2; miss 1/2; false alarm 2/3; completeness 1 - (1/2 + 2/3) / 2 = 5/12
    weighted = 0.5 * 0.5 + 0.5 * 5 / 12
    m = res.info["metrics"]
    assert m["det/size_penalty"] == pytest.approx(0.6)
    assert m["det/iou_max_iou_first"] == pytest.approx(weighted)
    assert m["det/iou_max_label_first"] == pytest.approx(weighted)
    assert m["det/map"] == pytest.approx(0.5)
    assert res.score == pytest.approx(0.6 * (2 * weighted + 0.5) / 3)
    # released matcher: two label-mismatched pairs, IoU 0; completeness 1 - (0 + 1/3) / 2 = 5/6
    res = vtriune_detection(
        completion, gt, det_reward_ratio=ratio, iou_threshold=0.5, format_ratio=0.0, released_matcher=True
    )
    assert res.score == pytest.approx(0.6 * (0.5 * 5 / 6 + weighted + 0.5) / 3)


def test_detection_normalised_coordinates():
    completion = _answer([_b([100, 50, 200, 100], "cat")])
    gt = [_b([250, 250, 500, 500], "cat")]
    kw = {"det_reward_ratio": {"map50": 1.0}, "format_ratio": 0.0, "det_verifier_normalized": True}
    assert vtriune_detection(completion, gt, image_grid_thw=[[1, 200, 400]], **kw).score == pytest.approx(1.0)
    with pytest.raises(ValueError, match="image_grid_thw is missing"):
        vtriune_detection(completion, gt, **kw)


def test_detection_format_reward():
    good = _answer([_b([0, 0, 1, 1], "a")])
    assert detection_format(good) == 1.0
    assert detection_format(good.replace("\n</answer>", "</answer>")) == 0.0  # tag without newline
    assert detection_format(_answer([{"bbox_2d": [0, 0, 1, 1]}])) == 0.0  # no label, no valid box
    res = vtriune_detection("no answer", [_b([0, 0, 1, 1], "a")], det_reward_ratio={"map": 1})
    assert (res.score, res.info["num_pred"]) == (0.0, 0)


# ---- math


def test_math_accuracy_and_format_by_hand():
    assert think_answer_format("<think>\nx\n</think>\n<answer>\n1\n</answer>") == 1.0
    full = vtriune_math("<think>\nx\n</think>\n<answer>\n\\boxed{42}\n</answer>", "42")
    assert (full.score, full.correct) == (pytest.approx(1.0), True)
    half = vtriune_math("<think>\nso \\boxed{42}", "42")  # only "<think>\n": format 0.25
    assert half.score == pytest.approx((1.0 + 0.1 * 0.25) / 1.1)
    bare = vtriune_math("42", "42")  # no anchor (no \\boxed, no $...$): not read, as in the release
    assert (bare.score, bare.correct) == (0.0, False)


# ---- rows and load-time checks


def _orsta_rows() -> list[dict]:
    parm = {
        "det_verifier_normalized": True,
        "det_reward_ratio": {"iou_max_label_first": 1.0, "iou_completeness": 0.0},
    }
    return [
        {
            "data_source": "v3det",
            "prompt": [{"role": "user", "content": "<image>Find the cat."}],
            "reward_model": {
                "ground_truth": "<answer>[{'bbox_2d': [250, 250, 500, 500], 'label': 'cat'}]</answer>",
                "verifier": "detection",
                "verifier_parm": parm,
            },
            "extra_info": {"index": 1},
        },
        {
            "data_source": "mm_math",
            "prompt": [{"role": "user", "content": "<image>2+2?"}],
            "reward_model": {
                "ground_truth": "4",
                "verifier": "mathverify",
                "accuracy_ratio": 1.0,
                "format_ratio": 0.5,
                "verifier_parm": {"det_verifier_normalized": False, "det_reward_ratio": {}},
            },
            "extra_info": {"index": 2},
        },
    ]


def test_orsta_rows_load_pass_the_schema_and_score(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "im.png")
    rows = [r | {"images": ["im.png"]} for r in _orsta_rows()]
    path = tmp_path / "orsta.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    det, math = load_verl(path)
    assert det.reward.verifier == "vtriune_detection" and math.reward.verifier == "vtriune_math"
    assert check_reward_spec(det.reward) is None and check_reward_spec(math.reward) is None
    det.reward.params["image_grid_thw"] = [[1, 200, 400]]  # what the engine would add
    got = score_one(ScoreRequest(_answer([_b([100, 50, 200, 100], "cat")]), det.reward))
    assert got.error is None and got.score == pytest.approx(1.0)  # IoU 1, format 1
    got = score_one(ScoreRequest("<think>\nx\n</think>\n<answer>\n\\boxed{4}\n</answer>", math.reward))
    assert got.score == pytest.approx(1.0)


def test_load_time_checks_name_the_bad_parameter():
    spec = RewardSpec("vtriune_detection", [_b([0, 0, 1, 1], "a")], {"det_reward_ratio": {"map": 3}})
    field, msg = _check_params(spec)  # type: ignore[misc]
    assert field == "params" and "det_reward_ratio['map']" in msg
    bad = RewardSpec("math", "4", {"det_verifier_normalized": False})  # an alias to plain math
    assert check_reward_spec(bad) == (
        "reward.params",
        "math takes no parameter 'det_verifier_normalized'; it takes ['answer_tag', 'timeout_s']",
    )
    spec = RewardSpec("vtriune_detection", "no boxes here", {"det_reward_ratio": {"map": 1}})
    assert "no labelled ground-truth boxes" in _check_params(spec)[1]  # type: ignore[index]


def test_rlvr_dynamic_threshold_schedule_reaches_vtriune_detection():
    from rlvr.rewards.param_schedules import ParamSchedule
    from rlvr.rewards.schedules import ThresholdSchedule

    completion = _answer([_b([0, 0, 10, 9], "dog")])  # IoU 0.9 with the gt
    spec = RewardSpec(
        "vtriune_detection", [_b([0, 0, 10, 10], "dog")], {"det_reward_ratio": {"iou_max_label_first": 1}}
    )
    schedule = ParamSchedule("iou_threshold", ["vtriune_detection"], ThresholdSchedule())
    early, late = (schedule.apply([ScoreRequest(completion, spec)], p)[0] for p in (0.05, 0.5))
    assert early.spec.params["iou_threshold"] == 0.85 and late.spec.params["iou_threshold"] == 0.99
    assert score_one(early).info["accuracy"] == pytest.approx(0.9)  # 0.9 >= 0.85
    assert score_one(late).info["accuracy"] == 0.0  # 0.9 < 0.99
