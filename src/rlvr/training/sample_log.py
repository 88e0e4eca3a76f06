"""Sample rollouts written to the run directory (samples/rollouts.jsonl) for reading and for the report."""

from __future__ import annotations

import json
from pathlib import Path

from rlvr.rollout.prompts import render_prompt
from rlvr.training.collect import RolloutBatch


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def write_samples(run_dir: Path, step: int, batch: RolloutBatch, tokenizer, limit: int) -> None:
    """Append the first ``limit`` rollouts of ``batch`` (prompt, completion, reward, verifier details)."""
    path = Path(run_dir) / "samples" / "rollouts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        seen: set[int] = set()
        rows = list(zip(batch.completions, batch.requests, batch.results, strict=True))
        for j, (c, req, res) in enumerate(rows[:limit]):
            traj = batch.row_traj[j] if batch.row_traj else -1
            if traj in seen:  # a trajectory over several rows is written once, as a conversation
                continue
            row = {
                "step": step,
                "data_source": req.data_source,
                "prompt": render_prompt(tokenizer, batch.samples[c.prompt_index]),
                "completion": c.text,
                "reward": res.score,
                "correct": res.correct,
                "verifier": req.spec.verifier,
                "error": res.error,
                "finish_reason": c.finish_reason,
                "info": {k: _jsonable(v) for k, v in res.info.items()},
            }
            if traj >= 0 and batch.trajectories is not None:  # multi-turn: the turns, observations marked
                seen.add(traj)
                t = batch.trajectories[traj]
                row["turns"] = [{"kind": kind, "text": text} for kind, text in t.transcript]
                row["stop_reason"], row["turn_rewards"] = t.stop_reason, t.turn_rewards
            f.write(json.dumps(row) + "\n")
