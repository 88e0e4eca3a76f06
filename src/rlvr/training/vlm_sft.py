"""SFT rows with images: the same cross-entropy on response tokens, through the learner's vision forward.

A row is ``(ids, labels)`` as for text (``rlvr.training.sft``), where ``ids`` is a ``VisionPrompt``
carrying the prompt's vision inputs; the loss collates the rows like completions and runs
``rlvr.training.vlm_forward.vision_forward`` (each prompt's images once, the model's own positions),
so SFT and RL read an image the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from rlvr.algorithms.logprobs import token_logprobs
from rlvr.data.sample import Sample
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import Completion
from rlvr.rollout.vision_prompts import VisionPrompt
from rlvr.training.batch import collate
from rlvr.training.vlm_forward import vision_forward

IGNORE = -100


def encode_vision_sft(tokenizer, sample: Sample) -> tuple[list[int], list[int]]:
    """(prompt + response + eos ids carrying the prompt's vision inputs, labels -100 on the prompt)."""
    if not sample.response:
        raise ValueError(f"SFT sample {sample.id!r} (data_source {sample.data_source!r}) has no 'response'")
    prompt = encode_prompts(tokenizer, [sample])[0]
    response = tokenizer(sample.response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    vision = getattr(prompt, "vision", None)
    ids = list(prompt) + response
    return (VisionPrompt(ids, vision) if vision is not None else ids), [IGNORE] * len(prompt) + response


def _completion(ids: list[int], labels: list[int]) -> Completion:
    P = sum(1 for t in labels if t == IGNORE)
    return Completion(
        prompt_index=0,
        token_ids=list(ids[P:]),
        logprobs=[0.0] * (len(ids) - P),
        text="",
        finish_reason="stop",
        prompt_ids=list(ids[:P]),
        vision=getattr(ids, "vision", None),
    )


def vision_sft_loss(
    model: torch.nn.Module, rows: list[tuple[list[int], list[int]]], num_target_tokens: int, pad_id: int
) -> torch.Tensor:
    """Summed cross-entropy of the rows' response tokens / ``num_target_tokens`` (as ``sft_loss``)."""
    device = next(model.parameters()).device
    batch = collate([_completion(ids, labels) for ids, labels in rows], pad_id).to(device)
    if batch.vision is None:
        raise ValueError("vision_sft_loss: no row has images")
    logprobs, _ = vision_forward(
        model, batch, lambda z, y, e: token_logprobs(z, y, 1.0, with_entropy=e, overwrite_logits=True), False
    )
    return -(logprobs * batch.response_mask).sum() / max(num_target_tokens, 1)


def sft_steps(
    model: torch.nn.Module,
    rows: list[tuple[list[int], list[int]]],
    steps: int,
    lr: float,
    pad_id: int,
    batch_size: int = 32,
    on_step: Callable[[int, float], None] | None = None,
) -> None:
    """Plain AdamW SFT on image rows, batch ``step`` drawn by ``random.Random(step)``: probes and tests.

    ``rlvr sft`` (``run_sft``) is the configured, logged loop; this one is the few lines a probe needs to
    ask "can this model learn the task at all", calling ``on_step(step, loss)`` after each update.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    for step in range(steps):
        batch = random.Random(step).sample(rows, batch_size)
        n = sum(len(labels) - labels.count(IGNORE) for _, labels in batch)
        loss = vision_sft_loss(model, batch, n, pad_id)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step, loss.item())
