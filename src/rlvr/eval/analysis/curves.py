"""Confidence curves of many traces: one curve per trace, and their averages over correct and
incorrect traces on a common axis (the fraction of the trace read)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from rlvr.eval.analysis.confidence import (
    DEFAULT_ANSWER_PROMPT,
    answer_nll_shared,
    boundary_points,
    prefix_points,
)
from rlvr.eval.analysis.traces import Trace

GRID = 21
"""Points of the common axis (0, 0.05, ..., 1) the averages are taken on."""


@dataclass
class Curve:
    sample_id: str
    correct: bool
    trace_tokens: int
    points: list[int]
    """Trace lengths j (response tokens read) of each measurement."""
    nll: list[float]
    """L(j): mean negative log-likelihood of the gold answer's tokens after the first j trace tokens."""


def answer_block(tokenizer, answer_prompt: str, gold: str) -> tuple[list[int], int]:
    """The appended tokens (answer prompt + gold, tokenised together as in the notebook) and how many
    of the last ones are the gold answer's."""
    block = tokenizer(answer_prompt + gold, add_special_tokens=False)["input_ids"]
    n_gold = len(tokenizer(gold, add_special_tokens=False)["input_ids"])
    return list(block), n_gold


def trace_curve(
    model: torch.nn.Module,
    tokenizer,
    trace: Trace,
    answer_prompt: str | None = None,
    every: int = 1,
    at: str | None = None,
    max_block_tokens: int | None = 8192,
) -> Curve:
    """L(j) along one trace. ``answer_prompt``: the trace's task's own, else this, else RaML's default."""
    prompt = trace.answer_prompt or answer_prompt or DEFAULT_ANSWER_PROMPT
    block, n_gold = answer_block(tokenizer, prompt, trace.gold)
    bounds = None
    if at is not None:
        bounds = boundary_points([tokenizer.decode([t]) for t in trace.response_ids], at)
    points = prefix_points(len(trace.response_ids), len(block), every, bounds)
    nll: list[float] = []
    if points:
        device = next(model.parameters()).device
        ctx = torch.tensor(trace.prompt_ids + trace.response_ids, device=device)
        lens = torch.tensor([len(trace.prompt_ids) + j for j in points], device=device)
        blk = torch.tensor(block, device=device)
        nll = answer_nll_shared(model, ctx, blk, n_gold, lens, max_block_tokens).tolist()
    return Curve(trace.sample_id, trace.correct, len(trace.response_ids), points, nll)


def on_grid(curve: Curve, grid: int = GRID) -> list[float] | None:
    """The curve linearly interpolated at ``grid`` evenly spaced fractions of its measured span."""
    if len(curve.points) < 2:
        return None
    xs = torch.tensor(curve.points, dtype=torch.float64)
    xs = (xs - xs[0]) / (xs[-1] - xs[0])
    ys = torch.tensor(curve.nll, dtype=torch.float64)
    out = []
    for g in torch.linspace(0, 1, grid, dtype=torch.float64):
        i = int(torch.searchsorted(xs, g, right=True).clamp(1, len(xs) - 1))
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        out.append(float(y0 + (y1 - y0) * (g - x0) / (x1 - x0)))
    return out


def average_curves(curves: Sequence[Curve], grid: int = GRID) -> dict[str, list[float] | int]:
    """Mean L on the common axis over correct and over incorrect traces (and how many of each)."""
    out: dict[str, list[float] | int] = {"x": [i / (grid - 1) for i in range(grid)]}
    for name, want in (("correct", True), ("incorrect", False)):
        rows = [g for c in curves if c.correct == want and (g := on_grid(c, grid)) is not None]
        out[f"n_{name}"] = len(rows)
        out[name] = [sum(col) / len(rows) for col in zip(*rows, strict=True)] if rows else []
    return out


def confidence_report(curves: Sequence[Curve]) -> dict:
    """The JSON written by ``rlvr analyze confidence``: per-trace curves, averages and a summary."""
    avg = average_curves(curves)
    summary = {"traces": len(curves), "accuracy": sum(c.correct for c in curves) / max(1, len(curves))}
    for name in ("correct", "incorrect"):
        ys = avg[name]
        if isinstance(ys, list) and ys:
            summary[f"{name}/nll_start"], summary[f"{name}/nll_end"] = ys[0], ys[-1]
    return {"summary": summary, "average": avg, "curves": [asdict(c) for c in curves]}
