"""``vtriune_math`` and ``vtriune_detection``: V-Triune / Orsta's rewards (arXiv 2505.18129) as the
official reward server computes them (github.com/MiniMax-AI/One-RL-to-See-Them-All,
``reward_server/verify.py`` and ``reward_serving_fastapi.py``), re-implemented from its formulas.

Each returns the server's final reward ``(a * acc + f * fmt) / (a + f)`` with ``a = accuracy_ratio``
(default 1.0) and ``f = format_ratio`` (default 0.1, the server's default when a row gives none).
Both take every key of an Orsta row's ``verifier_parm`` (``det_verifier_normalized``,
``det_reward_ratio``, ``image_grid_thw``, ``image_path``, ``is_training``, ``step``, ``total_steps``,
``verifier_style``), so a V-Triune row is scored with its own parameters.

Where this differs from the release, on purpose: a ground truth or a ``det_reward_ratio`` that cannot
be used raises (the sample is reported as errored) instead of silently scoring 0.0; a ratio outside
[0, 1] or an unknown ratio key is an error (the release logs it and uses 0.0). ``released_matcher``
reproduces the released max-IoU-first matcher exactly (see ``match_max_iou_first``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rlvr.data.checks import register_sample_check
from rlvr.data.sample import RewardSpec, Sample
from rlvr.rewards.schedules import ThresholdSchedule
from rlvr.rewards.types import VERIFIERS, RewardResult
from rlvr.rewards.vtriune_boxes import (
    OFFICIAL_IOU_THRESHOLDS,
    LabelledBox,
    boxes_from_items,
    iou_scores,
    labelled_map,
    match_max_iou_first,
    match_max_iou_first_as_released,
    match_max_label_first,
    normalize_to_1000,
    parse_labelled_boxes,
)

DET_RATIO_KEYS = ("iou_max_iou_first", "iou_max_label_first", "iou_completeness", "map", "map50", "map75")
# the blended terms; iou_completeness weighs completeness inside both IoU terms instead
_BLEND_KEYS = ("iou_max_iou_first", "iou_max_label_first", "map", "map50", "map75")
DYNAMIC_IOU = ThresholdSchedule((0.1, 0.25), (0.85, 0.95, 0.99))  # step/total <= 0.1, <= 0.25, after
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def final_reward(
    accuracy: float, fmt: float, accuracy_ratio: float = 1.0, format_ratio: float = 0.1
) -> float:
    """``(a * accuracy + f * fmt) / (a + f)``; a and f must be >= 0 with a positive sum."""
    a, f = float(accuracy_ratio), float(format_ratio)
    if a < 0 or f < 0 or a + f <= 0:
        raise ValueError(f"accuracy_ratio and format_ratio must be >= 0 with a positive sum, got {a} and {f}")
    return (a * accuracy + f * fmt) / (a + f)


def check_det_reward_ratio(ratio: Mapping[str, Any] | None) -> dict[str, float]:
    """Every key of ``DET_RATIO_KEYS`` (a missing one is 0.0, as in the release), each in [0, 1], and a
    positive sum of the blended terms; anything else raises naming the key."""
    if not isinstance(ratio, Mapping):
        raise ValueError(
            f"det_reward_ratio must be a mapping with keys {list(DET_RATIO_KEYS)}, got {ratio!r}"
        )
    unknown = sorted(set(ratio) - set(DET_RATIO_KEYS))
    if unknown:
        raise ValueError(f"det_reward_ratio: unknown key {unknown[0]!r}; keys are {list(DET_RATIO_KEYS)}")
    out = {}
    for key in DET_RATIO_KEYS:
        value = ratio.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ValueError(f"det_reward_ratio[{key!r}] must be a number in [0, 1], got {value!r}")
        out[key] = float(value)
    if sum(out[k] for k in _BLEND_KEYS) <= 0:
        raise ValueError(f"det_reward_ratio: the weights of {list(_BLEND_KEYS)} sum to 0; nothing to score")
    return out


def select_iou_threshold(
    iou_threshold: float | str, step: int | None, total_steps: int | None
) -> float | str:
    """A float in [0, 1] as is; ``"average"`` as is (mean over ``OFFICIAL_IOU_THRESHOLDS``);
    ``"dynamic"``: 0.85 while step / total_steps <= 0.1, 0.95 while <= 0.25, then 0.99."""
    if iou_threshold == "average":
        return "average"
    if iou_threshold == "dynamic":
        if step is None or not total_steps:
            raise ValueError("iou_threshold 'dynamic' needs step and total_steps > 0")
        return DYNAMIC_IOU.value(step / total_steps)
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, int | float):
        raise ValueError(
            f"iou_threshold must be a number in [0, 1], 'average' or 'dynamic', got {iou_threshold!r}"
        )
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    return float(iou_threshold)


def first_answer(text: str) -> str:
    """The stripped content of the first ``<answer>...</answer>``, or "" (the release's extraction)."""
    m = _ANSWER_RE.search(text)
    return m.group(1).strip() if m else ""


def detection_format(completion: str) -> float:
    """1.0 if "\\n<answer>\\n" occurs and "\\n</answer>" occurs exactly once and the (first) answer
    holds at least one valid labelled box, else 0.0."""
    if not (completion.count("\n<answer>\n") and completion.count("\n</answer>") == 1):
        return 0.0
    return 1.0 if parse_labelled_boxes(first_answer(completion.strip()).lower()) else 0.0


def think_answer_format(completion: str) -> float:
    """0.25 for each of "<think>\\n", "\\n</think>\\n", "\\n<answer>\\n", "\\n</answer>" occurring exactly
    once (the release's math format reward, from open-r1)."""
    tags = ("<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>")
    return 0.25 * sum(completion.count(t) == 1 for t in tags)


def gt_boxes(ground_truth: Any) -> list[LabelledBox]:
    """Ground truth as labelled boxes: text (the first ``<answer>`` if present, else all of it) or a list
    of ``{"bbox_2d": [...], "label": ...}``. Labels are lower-cased (the release lower-cases the text)."""
    if isinstance(ground_truth, str):
        text = first_answer(ground_truth.strip()) if "<answer>" in ground_truth else ground_truth
        boxes = parse_labelled_boxes(text.lower())
    elif isinstance(ground_truth, list):
        boxes = [LabelledBox(b.box, b.label.lower()) for b in boxes_from_items(ground_truth)]
    else:
        boxes = []
    if not boxes:
        raise ValueError(
            f"no labelled ground-truth boxes ({{'bbox_2d': [...], 'label': ...}}) in {ground_truth!r}"
        )
    return boxes


def _iou_term(
    preds: list[LabelledBox], gts: list[LabelledBox], matcher: Any, thr: float | str, c: float
) -> float:
    thresholds = OFFICIAL_IOU_THRESHOLDS if thr == "average" else (float(thr),)
    scores = [iou_scores(len(preds), len(gts), matcher(preds, gts, t), c)["weighted"] for t in thresholds]
    return sum(scores) / len(scores)


def detection_accuracy(
    preds: list[LabelledBox],
    gts: list[LabelledBox],
    ratio: dict[str, float],
    threshold: float | str,
    released_matcher: bool = False,
) -> dict[str, float]:
    """The release's ``verify_accuracy`` terms and ``final_score``:
    sum_k ratio_k * term_k / sum_k ratio_k over the IoU terms (max-IoU-first and max-label-first,
    weighted by completeness) and map / map50 / map75, each times 0.6 ** |#pred - #gt|."""
    size_penalty = 0.6 ** abs(len(preds) - len(gts))
    by_iou = match_max_iou_first_as_released if released_matcher else match_max_iou_first
    c = ratio["iou_completeness"]
    terms = {
        "iou_max_iou_first": _iou_term(preds, gts, by_iou, threshold, c),
        "iou_max_label_first": _iou_term(preds, gts, match_max_label_first, threshold, c),
        **labelled_map(preds, gts),
    }
    blended = sum(ratio[k] * terms[k] * size_penalty for k in _BLEND_KEYS) / sum(
        ratio[k] for k in _BLEND_KEYS
    )
    at50 = iou_scores(len(preds), len(gts), match_max_label_first(preds, gts, 0.5), c)
    return {
        "final_score": blended,
        "size_penalty": size_penalty,
        **terms,
        "iou50_label_precision": at50["precision"],
        "iou50_label_recall": at50["recall"],
    }


def _image_size(image_grid_thw: Sequence[Sequence[int]] | None) -> tuple[float, float] | None:
    """(width, height) in pixels of the first image: ``image_grid_thw[0] = (t, height, width)``."""
    if not image_grid_thw:
        return None
    first = image_grid_thw[0]
    if len(first) != 3:
        raise ValueError(f"image_grid_thw entries are (t, height, width) in pixels, got {first!r}")
    return float(first[2]), float(first[1])


@VERIFIERS.register("vtriune_detection")
def vtriune_detection(
    completion: str,
    ground_truth: Any,
    *,
    det_reward_ratio: Mapping[str, float] | None = None,
    det_verifier_normalized: bool = False,
    image_grid_thw: Sequence[Sequence[int]] | None = None,
    iou_threshold: float | str = "average",
    step: int | None = None,
    total_steps: int | None = None,
    accuracy_ratio: float = 1.0,
    format_ratio: float = 0.1,
    released_matcher: bool = False,
    is_training: bool | None = None,
    image_path: Any = None,
    verifier_style: str = "rule",
) -> RewardResult:
    """V-Triune's detection reward: ``final_reward(detection_accuracy, detection_format)``.

    Predicted boxes are the labelled boxes of the first ``<answer>`` (lower-cased, duplicates dropped).
    ``det_verifier_normalized``: scale them to 0-1000 by the resized image size ``image_grid_thw[0] =
    (t, height_px, width_px)``. ``iou_threshold``: a float, ``"average"`` (the release's default) or
    ``"dynamic"`` (from ``step / total_steps``; rlvr's ``reward.schedules`` may set the float instead).
    ``is_training``, ``image_path`` and ``verifier_style`` are accepted and unused, as in the release.
    ``info["metrics"]`` holds every term. No valid box: accuracy 0.0. ``correct`` is None.
    """
    del is_training, image_path, verifier_style
    ratio = check_det_reward_ratio(det_reward_ratio)
    threshold = select_iou_threshold(iou_threshold, step, total_steps)
    gts = gt_boxes(ground_truth)
    fmt = detection_format(completion)
    preds = parse_labelled_boxes(first_answer(completion.strip()).lower())
    if preds and det_verifier_normalized:
        size = _image_size(image_grid_thw)
        if size is None:
            raise ValueError("det_verifier_normalized is set but image_grid_thw is missing")
        preds = normalize_to_1000(preds, *size)
    acc = (
        detection_accuracy(preds, gts, ratio, threshold, released_matcher) if preds else {"final_score": 0.0}
    )
    score = final_reward(acc["final_score"], fmt, accuracy_ratio, format_ratio)
    metrics = {f"det/{k}": v for k, v in acc.items()} | {"det/format": fmt}
    info = {
        "accuracy": acc["final_score"],
        "format": fmt,
        "num_pred": len(preds),
        "num_gt": len(gts),
        "metrics": metrics,
    }
    return RewardResult(score, correct=None, info=info)


def _math_parse(text: str, gold: bool) -> list[Any]:
    import math_verify
    from latex2sympy2_extended import NormalizationConfig

    from rlvr.rewards.verifiers.math import _timeout

    timeout = _timeout(5)
    if gold:
        return list(math_verify.parse(text, extraction_mode="first_match", parsing_timeout=timeout))
    norm = NormalizationConfig(
        nits=False, malformed_operators=False, basic_latex=True, boxed="all", units=True
    )
    config = math_verify.LatexExtractionConfig(
        normalization_config=norm, boxed_match_priority=0, try_extract_without_anchor=False
    )
    return list(
        math_verify.parse(
            text, extraction_config=[config], extraction_mode="first_match", parsing_timeout=timeout
        )
    )


@VERIFIERS.register("vtriune_math")
def vtriune_math(
    completion: str,
    ground_truth: Any,
    *,
    accuracy_ratio: float = 1.0,
    format_ratio: float = 0.1,
    det_reward_ratio: Mapping[str, float] | None = None,
    det_verifier_normalized: bool = False,
    image_grid_thw: Sequence[Sequence[int]] | None = None,
    step: int | None = None,
    total_steps: int | None = None,
    is_training: bool | None = None,
    image_path: Any = None,
    verifier_style: str = "rule",
) -> RewardResult:
    """V-Triune's ``mathverify`` reward: ``final_reward(accuracy, think_answer_format)``.

    Accuracy: math-verify over the lower-cased texts; the gold in first-match mode, the completion's
    answer as LaTeX with ``\\boxed{}`` tried first and no answer without an anchor (so a bare "42" is
    not read), as the release does. An unparsable ground truth raises. The detection and schedule keys
    of ``verifier_parm`` are accepted and unused, as in the release. ``correct``: accuracy == 1.
    """
    del det_reward_ratio, det_verifier_normalized, image_grid_thw, step, total_steps
    del is_training, image_path, verifier_style
    import math_verify

    gold = _math_parse(str(ground_truth).lower(), gold=True)
    if not gold:
        raise ValueError(f"math-verify cannot parse the ground truth {ground_truth!r}")
    pred = _math_parse(completion.lower(), gold=False)
    try:
        acc = float(math_verify.verify(gold, pred))
    except Exception:  # the release scores a failed comparison 0.0
        acc = 0.0
    fmt = think_answer_format(completion)
    score = final_reward(acc, fmt, accuracy_ratio, format_ratio)
    info = {"accuracy": acc, "format": fmt, "metrics": {"math/format": fmt}}
    return RewardResult(score, correct=acc == 1.0, info=info)


def _check_params(spec: RewardSpec) -> tuple[str, str] | None:
    """Load-time check of the values of a V-Triune spec's parameters (names are checked by signature)."""
    if spec.verifier not in ("vtriune_detection", "vtriune_math"):
        if spec.verifier == "combined":
            for i, comp in enumerate((spec.params or {}).get("components") or []):
                if isinstance(comp, dict) and isinstance(comp.get("verifier"), str):
                    sub = RewardSpec(comp["verifier"], spec.ground_truth, comp.get("params") or {})
                    found = _check_params(sub)
                    if found:
                        return f"params.components[{i}].{found[0]}", found[1]
        return None
    p = spec.params or {}
    try:
        final_reward(0.0, 0.0, p.get("accuracy_ratio", 1.0), p.get("format_ratio", 0.1))
        if spec.verifier == "vtriune_detection":
            check_det_reward_ratio(p.get("det_reward_ratio"))
            select_iou_threshold(p.get("iou_threshold", "average"), p.get("step"), p.get("total_steps", 1))
            if spec.ground_truth is not None:
                gt_boxes(spec.ground_truth)
    except ValueError as exc:
        return "params", str(exc)
    return None


def _check_sample(sample: Sample) -> tuple[str, str] | None:
    found = _check_params(sample.reward)
    return None if found is None else (f"reward.{found[0]}", found[1])


register_sample_check("vtriune_params", _check_sample)
