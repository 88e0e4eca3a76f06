"""VLAA-Thinking's mixed reward and the sequence-classification reward model, on a tiny local model."""

from __future__ import annotations

import copy
import math

import pytest

from rlvr.data.sample import RewardSpec
from rlvr.rewards.router import ScoreRequest, score_one
from rlvr.rewards.verifiers.vlaa import VLAA_SYSTEM_PROMPT, think_answer_format, vlaa_mixed


def _c(answer: str) -> str:
    return f"<think>\nlooking\n</think>\n<answer>{answer}</answer>"


def test_system_prompt_is_the_released_one():
    assert VLAA_SYSTEM_PROMPT.startswith("You are VL-Thinking🤔, a helpful assistant")
    assert VLAA_SYSTEM_PROMPT.endswith(
        "<think> reasoning process here </think> <answer> answer here </answer>"
    )


def test_format():
    assert think_answer_format(_c("3")) == 1.0
    assert think_answer_format("<answer>3</answer>") == 0.0
    assert think_answer_format(_c("3") + " trailing") == 0.0


def test_rule_based_kinds_by_hand():
    assert vlaa_mixed(_c("There are 3 objects"), 3, kind="digit").score == 2.0  # 1 + 1 format
    assert vlaa_mixed(_c("4"), "3", kind="digit").score == 1.0  # format only
    assert vlaa_mixed(_c("B"), "B", kind="mcq").score == 2.0
    assert vlaa_mixed(_c("\\frac{1}{2}"), "0.5", kind="math", format_weight=0.5).score == 1.5
    # boxes on 0-1: gt [0, 0, 0.5, 0.5], answer [0, 0, 0.5, 0.25] -> IoU 0.125 / 0.25 = 0.5
    res = vlaa_mixed(_c("[0, 0, 0.5, 0.25]"), [0, 0, 0.5, 0.5], kind="iou", format_weight=0.0)
    assert (res.score, res.correct) == (pytest.approx(0.5), True)
    res = vlaa_mixed(_c("[0, 0, 50, 25]"), [0, 0, 0.5, 0.5], kind="iou", format_weight=0.0)
    assert res.score == 0.0 and "not normalised" in res.info["reason"]
    assert vlaa_mixed("3", 3, kind="digit").score == 0.0  # no <answer>, no format
    with pytest.raises(ValueError, match="kind must be one of"):
        vlaa_mixed(_c("3"), 3, kind="count")


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from rlvr.models.tiny import build_tokenizer

    tok = build_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(cfg)
    path = tmp_path_factory.mktemp("rm")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, model, tok


def test_open_ended_answer_scored_by_a_sequence_classification_model(tiny_rm):
    import torch

    path, model, tok = tiny_rm
    question = "What are they doing?"
    completion = _c("watching a show")
    text = tok.apply_chat_template(
        [{"role": "user", "content": question}, {"role": "assistant", "content": "watching a show"}],
        tokenize=False,
    )
    with torch.no_grad():
        logit = float(model(**tok(text, return_tensors="pt")).logits[0, 0])
    params = {"kind": "open", "question": question, "scorer_params": {"model_path": str(path)}}
    got = score_one(ScoreRequest(completion, RewardSpec("vlaa_mixed", None, params)))
    assert got.error is None
    assert got.info["logit"] == pytest.approx(logit, abs=1e-6)
    assert got.score == pytest.approx(1 / (1 + math.exp(-logit)) + 1.0, abs=1e-6)  # + format


def test_reward_model_with_a_zero_head_scores_one_half(tmp_path, tiny_rm):
    import torch

    from rlvr.rewards.verifiers.reward_model import reward_model

    _, model, tok = tiny_rm
    model = copy.deepcopy(model)  # the fixture's model stays as it is
    with torch.no_grad():
        model.score.weight.zero_()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    res = reward_model("<answer>anything</answer>", None, model_path=str(tmp_path), threshold=0.5)
    assert (res.score, res.correct, res.info["logit"]) == (0.5, True, 0.0)
