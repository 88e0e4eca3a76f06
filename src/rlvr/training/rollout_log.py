"""Logging an online run's rollouts as rows that offline training reads back (format: :mod:`rlvr.data.logged`).

With ``monitor.log_rollouts`` on, every step appends its scored batch (prompt and completion ids,
behaviour log-probs, reward, the weight version that sampled it) to ``run_dir/rollouts.jsonl``; a run
started with ``data.logged=<that file>`` replays them offline with importance correction.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlvr.rollout.prompts import encode_prompts
from rlvr.training.collect import RolloutBatch


def rollout_rows(
    rollouts: RolloutBatch, tokenizer, step: int, policy_version: int | None = None
) -> list[dict[str, Any]]:
    """An online batch as logged rows (every field present, None where unset, so rows share one
    schema in Arrow). ``group`` is ``"<step>/<prompt index>"``, ``id`` is ``"<group>#<sample index>"``."""
    rows = []
    for c, req, res in zip(rollouts.completions, rollouts.requests, rollouts.results, strict=True):
        sample = rollouts.samples[c.prompt_index]
        group = f"{step}/{c.prompt_index}"
        rows.append(
            {
                "id": f"{group}#{c.sample_index}",
                "group": group,
                "sample_id": sample.id,
                "data_source": req.data_source,
                "verifier": req.spec.verifier,
                "prompt": sample.prompt,
                "messages": sample.messages,
                "prompt_ids": list(c.prompt_ids) or encode_prompts(tokenizer, [sample])[0],
                "completion": c.text,
                "completion_ids": list(c.token_ids),
                "behaviour_logprobs": None if c.logprobs is None else [float(x) for x in c.logprobs],
                "finish_reason": c.finish_reason,
                "reward": None if res.error is not None else float(res.score),
                "correct": None if res.correct is None else bool(res.correct),
                "error": res.error,
                "step": step,
                "policy_version": policy_version,
            }
        )
    return rows


def write_logged(
    path: str | os.PathLike[str],
    rollouts: RolloutBatch,
    tokenizer,
    step: int,
    policy_version: int | None = None,
) -> int:
    """Append ``rollouts`` to the JSONL file ``path`` as logged rows; returns the number of rows written.

    ``load_logged(path, tokenizer)`` reads back the same prompts, completions, log-probs, rewards and
    errors. The step's rows go out in one write, flushed and synced, so a crash leaves at most a torn
    last line (:func:`truncate_logged` removes it). An errored result is written with ``"reward": null``
    and its ``error``.
    """
    rows = rollout_rows(rollouts, tokenizer, step, policy_version)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    with p.open("a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return len(rows)


def truncate_logged(path: str | os.PathLike[str], last_step: int) -> int:
    """Remove the rows of steps after ``last_step`` (and a torn last line) from a file that
    :func:`write_logged` appends to; returns the number of lines removed. A resumed run calls it with
    its checkpoint's step, so the steps it runs again are not logged twice. Other lines stay as they are."""
    p = Path(path)
    if not p.is_file():
        return 0
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = []
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1 and not line.endswith("\n"):
                continue  # a write cut short by a crash
            keep.append(line)
            continue
        step = row.get("step") if isinstance(row, dict) else None
        if not (isinstance(step, int) and step > last_step):
            keep.append(line)
    removed = len(lines) - len(keep)
    if removed:
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text("".join(keep), encoding="utf-8")
        os.replace(tmp, p)
    return removed
