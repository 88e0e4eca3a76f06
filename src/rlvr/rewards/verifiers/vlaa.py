"""``vlaa_mixed``: VLAA-Thinking's mixed reward for GRPO ("SFT or RL?", arXiv 2504.11468).

Five kinds of question, each with its own accuracy reward on the ``<answer>`` content (the paper's
Fig. "GRPO with Mixed Reward"; code: github.com/UCSC-VLAA/VLAA-Thinking, which releases the system
prompt but not the reward code):

- ``digit`` (CLEVR-Math counting): 1 if the first number in the answer equals the ground truth.
- ``mcq`` (GeoQA, ArxivQA): the ``choice`` verifier (option letter).
- ``math`` (Math PUMA): the ``math`` verifier (math-verify equivalence).
- ``iou`` (grounding, boxes normalised to 0-1): the IoU of the first answered box with the ground-truth
  box; a box with a coordinate outside [0, 1] scores 0.
- ``open`` (DocVQA, VizWiz, ALLaVA): a reward model (``reward_model`` verifier: any
  sequence-classification model) or an LLM judge (``llm_judge``), given the question.

Score = accuracy + ``format_weight`` * format, where format is 1 when the completion is exactly
``<think>...</think>`` then ``<answer>...</answer>`` (whitespace around allowed). The paper states no
formula for the sum; this is the R1-V / open-r1 convention its GRPO code base follows (assumption).
"""

from __future__ import annotations

import re
from typing import Any

from rlvr.rewards.extract import tagged
from rlvr.rewards.types import VERIFIERS, RewardResult

# verbatim from the released inference.py: the model is trained with it
VLAA_SYSTEM_PROMPT = (
    "You are VL-Thinking🤔, a helpful assistant with excellent reasoning ability."
    " A user asks you a question, and you should try to solve it."
    " You should first think about the reasoning process in the mind and then provides the user with the answer."
    " The reasoning process and answer are enclosed within <think> </think> and"
    " <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think>"
    " <answer> answer here </answer>"
)
KINDS = ("digit", "mcq", "math", "iou", "open")
_FORMAT_RE = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)
_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?")


def think_answer_format(completion: str) -> float:
    """1.0 if the completion is ``<think>...</think>`` followed by ``<answer>...</answer>``, else 0.0."""
    return 1.0 if _FORMAT_RE.match(completion) else 0.0


def digit_accuracy(answer: str, ground_truth: Any) -> float:
    """1.0 if the first number in ``answer`` equals the ground truth as a number."""
    found = _NUM_RE.search(answer.replace(",", ""))
    return float(found is not None and float(found.group()) == float(ground_truth))


def box_iou_accuracy(answer: str, ground_truth: Any) -> tuple[float, str | None]:
    """(IoU of the first box in ``answer`` with the ground-truth box, reason for a 0) on 0-1 boxes."""
    from rlvr.rewards.verifiers.detection import as_boxes, box_iou, parse_boxes

    gt = as_boxes(ground_truth)[0]
    if not all(0.0 <= v <= 1.0 for v in gt):
        raise ValueError(f"iou ground truth must be normalised to [0, 1], got {list(gt)}")
    found = parse_boxes(answer)
    if not found:
        return 0.0, "no box found"
    box = found[0][0]
    if not all(0.0 <= v <= 1.0 for v in box):
        return 0.0, f"box {list(box)} is not normalised to [0, 1]"
    return box_iou(box, gt), None


def _accuracy(kind: str, completion: str, answer: str, ground_truth: Any, p: dict[str, Any]) -> RewardResult:
    if kind == "digit":
        acc = digit_accuracy(answer, ground_truth)
        return RewardResult(acc, correct=acc == 1.0)
    if kind == "mcq":
        from rlvr.rewards.verifiers.choice import choice

        return choice(completion, ground_truth)
    if kind == "math":
        from rlvr.rewards.verifiers.math import math_verifier

        return math_verifier(completion, ground_truth, answer_tag="answer")
    if kind == "iou":
        iou, reason = box_iou_accuracy(answer, ground_truth)
        return RewardResult(iou, correct=iou >= 0.5, info={"reason": reason} if reason else {})
    if p.get("open_scorer", "reward_model") == "llm_judge":
        from rlvr.rewards.verifiers.judge import llm_judge

        return llm_judge(completion, ground_truth, prompt=p.get("question", ""), **p.get("scorer_params", {}))
    from rlvr.rewards.verifiers.reward_model import reward_model

    return reward_model(
        completion, ground_truth, question=p.get("question", ""), **p.get("scorer_params", {})
    )


@VERIFIERS.register("vlaa_mixed")
def vlaa_mixed(
    completion: str,
    ground_truth: Any,
    *,
    kind: str,
    format_weight: float = 1.0,
    question: str = "",
    open_scorer: str = "reward_model",
    scorer_params: dict[str, Any] | None = None,
) -> RewardResult:
    """Score = accuracy(kind) + ``format_weight`` * format (module doc). ``kind`` is one of ``KINDS``.
    ``open``: ``open_scorer`` is ``"reward_model"`` (``scorer_params`` needs ``model_path``) or
    ``"llm_judge"`` (``scorer_params``: its ``base_url``, ``model``, ``mode``...); ``question`` is the
    user's question. ``info``: ``accuracy``, ``format`` and the accuracy verifier's info."""
    if kind not in KINDS:
        raise ValueError(f"vlaa_mixed kind must be one of {list(KINDS)}, got {kind!r}")
    if open_scorer not in ("reward_model", "llm_judge"):
        raise ValueError(f"open_scorer must be 'reward_model' or 'llm_judge', got {open_scorer!r}")
    inner = tagged(completion, "answer")
    fmt = think_answer_format(completion)
    if inner is None and kind != "open":
        acc = RewardResult(0.0, correct=False, info={"reason": "no <answer> found"})
    else:
        params = {"question": question, "open_scorer": open_scorer, "scorer_params": scorer_params or {}}
        acc = _accuracy(kind, completion, inner or "", ground_truth, params)
    info = {**acc.info, "accuracy": acc.score, "format": fmt, "kind": kind}
    return RewardResult(acc.score + format_weight * fmt, correct=acc.correct, info=info)
