"""Reasoning traces to analyse: sampled from a model on a recipe's problems, or read from a run directory.

A trace is a prompt's token ids, the completion's token ids (end-of-sequence and padding stripped), the
problem's gold answer as text, whether the verifier scored the completion correct, and the answer prompt
of its task (``Sample.metadata["answer_prompt"]`` when the task sets one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr.data.sample import Sample
from rlvr.rollout.types import Completion


@dataclass
class Trace:
    sample_id: str
    data_source: str
    prompt_ids: list[int]
    response_ids: list[int]
    gold: str
    correct: bool
    answer_prompt: str | None = None
    """The task's own answer prompt (``Sample.metadata["answer_prompt"]``); None: the command's default."""


def gold_text(sample: Sample) -> str:
    """The gold answer as text: ``metadata["answer"]`` if the task sets it, else a scalar ground truth."""
    gold = sample.metadata.get("answer", sample.reward.ground_truth)
    if isinstance(gold, bool) or not isinstance(gold, (str, int, float)):
        raise ValueError(
            f"sample {sample.id!r}: the confidence probe needs the gold answer as text; its ground truth is "
            f"{type(gold).__name__} (set metadata['answer'] to the answer string)"
        )
    return str(gold)


def strip_special(ids: Sequence[int], tokenizer) -> list[int]:
    """Completion ids without trailing end-of-sequence / padding tokens."""
    drop = {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}
    out = list(ids)
    while out and out[-1] in drop:
        out.pop()
    return out


def traces_from_completions(
    samples: Sequence[Sample], completions: Sequence[Completion], correct: Sequence[bool], tokenizer
) -> list[Trace]:
    out = []
    for c, ok in zip(completions, correct, strict=True):
        s = samples[c.prompt_index]
        out.append(
            Trace(
                s.id,
                s.data_source,
                list(c.prompt_ids),
                strip_special(c.token_ids, tokenizer),
                gold_text(s),
                bool(ok),
                s.metadata.get("answer_prompt"),
            )
        )
    return out


def sample_traces(engine, samples: Sequence[Sample], router, params) -> list[Trace]:
    """``params.n`` traces of each sample from ``engine``, scored by each sample's verifier."""
    from rlvr.rewards.completions import score_completions
    from rlvr.rollout.prompts import encode_prompts

    prompts = encode_prompts(engine.tokenizer, list(samples))
    completions = engine.generate(prompts, params)
    for c in completions:
        if not c.prompt_ids:
            c.prompt_ids = prompts[c.prompt_index]
    _, results = score_completions(router, samples, completions)
    correct = [bool(r.correct) and r.error is None for r in results]
    return traces_from_completions(samples, completions, correct, engine.tokenizer)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not a JSON row ({exc})") from exc
    return rows


def read_run_traces(
    run_dir: str | Path, samples: Sequence[Sample], tokenizer, limit: int | None = None
) -> list[Trace]:
    """Traces logged by a run: ``rollouts.jsonl`` (token ids, ``monitor.log_rollouts``) if present, else
    ``samples/rollouts.jsonl`` (texts, re-tokenised). Gold answers come from ``samples`` (the recipe's
    data), matched by sample id or by rendered prompt; rows whose problem is not among them are skipped.
    The newest rows come first; ``limit`` keeps that many."""
    from rlvr.rollout.prompts import render_prompt

    run_dir = Path(run_dir)
    by_id = {s.id: s for s in samples}
    by_prompt = {render_prompt(tokenizer, s): s for s in samples}
    logged, texts = run_dir / "rollouts.jsonl", run_dir / "samples" / "rollouts.jsonl"
    path = logged if logged.is_file() else texts
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has neither rollouts.jsonl nor samples/rollouts.jsonl")
    rows = sorted(_read_jsonl(path), key=lambda r: r.get("step") or 0, reverse=True)
    out: list[Trace] = []
    for row in rows:
        s = by_id.get(row.get("sample_id", "")) or by_prompt.get(row.get("prompt") or "")
        if s is None:
            continue
        if "completion_ids" in row:
            prompt_ids, response = list(row["prompt_ids"]), strip_special(row["completion_ids"], tokenizer)
        else:
            prompt_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
            response = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        ok = bool(row.get("correct")) and not row.get("error")
        out.append(
            Trace(
                s.id, s.data_source, prompt_ids, response, gold_text(s), ok, s.metadata.get("answer_prompt")
            )
        )
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise ValueError(f"{path}: no row matches a problem of the recipe's data (by sample id or prompt)")
    return out
