"""Supervised fine-tuning: cross-entropy on response tokens only (the prompt is context, not target)."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from rlvr.algorithms.logprobs import token_logprobs
from rlvr.config import RunConfig
from rlvr.data.sample import Sample
from rlvr.data.sampler import PromptSampler
from rlvr.data.specs import load_dataset_specs
from rlvr.models.load import load_model, load_tokenizer
from rlvr.models.vlm import processor_of
from rlvr.models.vlm_load import save_vlm_processor
from rlvr.rollout.prompts import render_prompt
from rlvr.tracking.sinks import build_sinks
from rlvr.training.optim import build_optimizer
from rlvr.training.seeding import seed_everything
from rlvr.training.vlm_sft import encode_vision_sft, vision_sft_loss

IGNORE = -100


def encode_sft(tokenizer, sample: Sample) -> tuple[list[int], list[int]]:
    """(input ids, labels) of prompt + response + eos, labels -100 on the prompt."""
    if not sample.response:
        raise ValueError(f"SFT sample {sample.id!r} (data_source {sample.data_source!r}) has no 'response'")
    prompt = tokenizer(render_prompt(tokenizer, sample), add_special_tokens=False)["input_ids"]
    response = tokenizer(sample.response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt + response, [IGNORE] * len(prompt) + response


def pad_sft(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad (ids, labels) rows into input_ids / attention_mask / labels tensors (B, L)."""
    L = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), L), IGNORE, dtype=torch.long)
    attn = torch.zeros((len(rows), L), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        attn[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attn, "labels": labels}


def sft_loss(model, batch: dict[str, torch.Tensor], num_target_tokens: int) -> torch.Tensor:
    """Sum of token cross-entropies of the micro-batch / the mini-batch's target count (so micro-batch
    losses add up to the token-mean loss of the whole batch).

    The cross-entropy is the learner's chunked log-softmax (``token_logprobs``) over the model's own
    logits: no float32 (B, L, V) copy, and the backward writes the logits' gradient over them. Position t
    predicts token t + 1; the last position predicts nothing (label ``IGNORE``), so the logits are used
    whole, without a sliced copy."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # (B, L, V)
    labels = F.pad(batch["labels"][:, 1:], (0, 1), value=IGNORE)  # (B, L)
    target = labels != IGNORE
    logprobs, _ = token_logprobs(logits, labels.clamp_min(0), overwrite_logits=True)  # (B, L) float32
    return -torch.where(target, logprobs, 0.0).sum() / max(num_target_tokens, 1)


def run_sft(cfg: RunConfig, run_dir: Path, show_progress: bool = True) -> Path:
    """Fine-tune cfg.model on data.sft (or data.train); save to run_dir / cfg.sft.output; return it."""
    seed_everything(cfg.trainer.seed)
    samples = load_dataset_specs(cfg.data.sft or cfg.data.train)
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model, tokenizer)
    device = next(model.parameters()).device
    vision = processor_of(tokenizer) is not None  # a VLM: rows with images (rlvr.training.vlm_sft)
    encoded = [(encode_vision_sft if vision else encode_sft)(tokenizer, s) for s in samples]
    sampler = PromptSampler(len(encoded), min(cfg.sft.batch_size, len(encoded)), seed=cfg.trainer.seed)
    optimizer, scheduler = build_optimizer(model, cfg.sft.optim, cfg.sft.steps)
    logger = build_sinks(
        cfg.tracking, run_dir, run_dir.name, cfg.model_dump(mode="json"), filename="sft_metrics.jsonl"
    )
    bar = tqdm(range(cfg.sft.steps), desc="sft", disable=not show_progress, dynamic_ncols=True)
    model.train()
    for step in bar:
        t0 = time.perf_counter()
        rows = [encoded[i] for i in sampler.next_batch()]
        targets = sum(sum(t != IGNORE for t in lab[1:]) for _, lab in rows)
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for start in range(0, len(rows), cfg.sft.micro_batch_size):
            chunk = rows[start : start + cfg.sft.micro_batch_size]
            if vision:
                loss = vision_sft_loss(model, chunk, targets, tokenizer.pad_token_id)
            else:
                batch = pad_sft(chunk, tokenizer.pad_token_id)
                loss = sft_loss(model, {k: v.to(device) for k, v in batch.items()}, targets)
            loss.backward()
            total += loss.item()
        params = [p for p in model.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.sft.optim.max_grad_norm or float("inf"))
        optimizer.step()
        scheduler.step()
        logger.log(
            step + 1,
            {"sft/loss": total, "sft/grad_norm": float(grad_norm), "perf/step_s": time.perf_counter() - t0},
        )
        bar.set_postfix(loss=f"{total:.3f}")
    logger.close()
    out = run_dir / cfg.sft.output
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    save_vlm_processor(tokenizer, out)
    return out
