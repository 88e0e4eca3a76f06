"""``reward_model``: score an open-ended answer with any Hugging Face sequence-classification model.

The model and tokenizer are loaded once per process and path (``AutoModelForSequenceClassification``;
torch and transformers are imported on first use). The scored text is the chat template applied to
``[{"role": "user", "content": question}, {"role": "assistant", "content": answer}]`` when the
tokenizer has one, else ``question + "\\n\\n" + answer``. The score is the logit of ``label_index``,
through a sigmoid when ``sigmoid`` is set (a reward in (0, 1)).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from rlvr.rewards.extract import tagged
from rlvr.rewards.types import VERIFIERS, RewardResult


@functools.lru_cache(maxsize=4)
def _load(path: str, device: str) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).to(device).eval()
    return model, tok


def reward_model_text(tokenizer: Any, question: str, answer: str) -> str:
    """The text the reward model reads (see the module doc)."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return str(tokenizer.apply_chat_template(messages, tokenize=False))
    return f"{question}\n\n{answer}"


def reward_model_logit(
    path: str, question: str, answer: str, label_index: int = 0, device: str = "cpu"
) -> float:
    """The model's logit ``label_index`` for (question, answer)."""
    import torch

    model, tok = _load(path, device)
    enc = tok(reward_model_text(tok, question, answer), return_tensors="pt", truncation=True)
    with torch.no_grad():
        logits = model(**{k: v.to(device) for k, v in enc.items()}).logits  # (1, num_labels)
    if not 0 <= label_index < logits.shape[-1]:
        raise ValueError(f"label_index {label_index} out of range for {logits.shape[-1]} labels of {path}")
    return float(logits[0, label_index])


@VERIFIERS.register("reward_model")
def reward_model(
    completion: str,
    ground_truth: Any = None,
    *,
    model_path: str,
    question: str = "",
    answer_tag: str | None = "answer",
    sigmoid: bool = True,
    label_index: int = 0,
    device: str = "cpu",
    threshold: float | None = None,
) -> RewardResult:
    """Score = sigmoid(logit) (or the raw logit) of the reward model at ``model_path`` for ``question``
    and the answer (the ``<answer_tag>`` content when present, else the whole completion).
    ``ground_truth`` is unused (open-ended questions have none to match). ``correct`` is
    ``score >= threshold`` when ``threshold`` is set, else None. ``info["logit"]`` holds the logit."""
    del ground_truth
    inner = tagged(completion, answer_tag) if answer_tag else None
    answer = completion if inner is None else inner
    logit = reward_model_logit(model_path, question, answer, label_index, device)
    score = 1.0 / (1.0 + math.exp(-logit)) if sigmoid else logit
    correct = None if threshold is None else score >= threshold
    return RewardResult(score, correct=correct, info={"logit": logit})
