"""The report's plots: one PNG per group of metrics, drawn with matplotlib's Agg canvas (no pyplot, no GUI).

Each plot is a ``PlotSpec``: regexes over metric names, each with a legend label. A plot whose metrics are
absent from the run is skipped. Import this module only when a report is written (matplotlib is heavy).
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

SMOOTH_FROM = 12
"""Series with at least this many points are drawn raw (faint) and smoothed."""
LABEL_COLORS = {"correct": "#16a34a", "incorrect": "#dc2626"}
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d", "#475569")


@dataclass(frozen=True)
class PlotSpec:
    name: str
    """File stem of the PNG."""
    title: str
    ylabel: str
    series: tuple[tuple[str, str], ...]
    """(regex that fully matches metric names, legend label; ``\\1`` is the regex's first group)."""
    source: str = "metrics"
    """'metrics' (metrics.jsonl) or 'sft' (sft_metrics.jsonl)."""
    unit_range: bool = False
    """A fraction: the y axis spans [0, 1]."""


PLOTS: tuple[PlotSpec, ...] = (
    PlotSpec(
        "reward",
        "Reward",
        "mean reward",
        (("reward/all/reward_mean", "all"), (r"reward/data_source/(.+)/reward_mean", r"\1")),
    ),
    PlotSpec(
        "accuracy",
        "Training accuracy",
        "accuracy",
        (("reward/all/accuracy", "all"), (r"reward/data_source/(.+)/accuracy", r"\1")),
        unit_range=True,
    ),
    PlotSpec(
        "response_length",
        "Response length",
        "tokens",
        (
            ("reward/all/response_length", "all"),
            ("reward/all/response_length_correct", "correct"),
            ("reward/all/response_length_incorrect", "incorrect"),
        ),
    ),
    PlotSpec(
        "kl",
        "KL divergence",
        "KL",
        (
            ("train/kl_loss", "kl_loss (to reference)"),
            ("train/approx_kl", "approx_kl (to behaviour policy)"),
            ("train/kl_in_reward", "kl_in_reward"),
        ),
    ),
    PlotSpec("entropy", "Policy entropy", "nats / token", (("train/entropy", "entropy"),)),
    PlotSpec(
        "clip_frac",
        "Clip fractions",
        "fraction of tokens",
        (
            ("train/clip_frac_low", "low (A < 0)"),
            ("train/clip_frac_high", "high (A > 0)"),
            ("train/dual_clip_frac", "dual clip"),
        ),
    ),
    PlotSpec(
        "step_time",
        "Step time",
        "seconds",
        (
            ("perf/step_s", "step"),
            ("perf/gen_s", "generate"),
            ("perf/reward_s", "reward"),
            ("perf/update_s", "update"),
        ),
    ),
    PlotSpec(
        "eval_accuracy",
        "Eval accuracy",
        "accuracy",
        (("eval/all/accuracy", "all"), (r"eval/(.+)/accuracy", r"\1")),
        unit_range=True,
    ),
    PlotSpec("sft_loss", "SFT loss", "loss", (("sft/loss", "loss"),), source="sft"),
    # image-goal navigation (rlvr.embodied)
    PlotSpec(
        "nav_success",
        "Navigation success",
        "fraction of episodes",
        (
            ("nav/success", "train SR"),
            ("nav/spl", "train SPL"),
            ("eval/heldout/success", "held-out SR"),
            ("eval/heldout/spl", "held-out SPL"),
        ),
        unit_range=True,
    ),
    PlotSpec(
        "nav_length",
        "Episode length",
        "steps",
        (("nav/length", "train"), ("eval/heldout/length", "held-out")),
    ),
    PlotSpec(
        "nav_collisions",
        "Collisions",
        "per episode",
        (("nav/collisions", "train"), ("eval/heldout/collisions", "held-out")),
    ),
    PlotSpec(
        "nav_stop",
        "How episodes end (PPO's degenerate policies: never STOP, STOP at once)",
        "fraction of episodes",
        (("nav/stopped", "ended by STOP"), ("nav/stop_at_once", "STOP as the first action")),
        unit_range=True,
    ),
    PlotSpec(
        "nav_throughput", "Env steps per second", "env steps / s", (("perf/env_steps_per_s", "end to end"),)
    ),
)


def number(value: Any) -> float | None:
    """A finite float, or None (missing, text, NaN or inf: metrics.jsonl writes NaN as the string 'nan')."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def series(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """Steps and finite values of one metric, in row order."""
    points = [(row["step"], number(row.get(key))) for row in rows if "step" in row]
    kept = [(s, v) for s, v in points if v is not None]
    return [s for s, _ in kept], [v for _, v in kept]


def matched_series(spec: PlotSpec, keys: Sequence[str]) -> list[tuple[str, str]]:
    """(metric name, legend label) for each metric of the run that ``spec`` plots; a name goes to the
    first pattern it matches."""
    out: list[tuple[str, str]] = []
    taken: set[str] = set()
    for pattern, label in spec.series:
        regex = re.compile(pattern)
        for key in keys:
            match = regex.fullmatch(key)
            if match and key not in taken:
                taken.add(key)
                out.append((key, match.expand(label)))
    return out


def smooth(values: Sequence[float]) -> list[float]:
    """Centered moving average over a window of about a tenth of the points (odd, >= 3); it shrinks at the
    ends, so the curve neither lags nor loses its first and last steps."""
    half, n = max(1, len(values) // 20), len(values)
    prefix = list(itertools.accumulate(values, initial=0.0))
    windows = [(max(0, i - half), min(n, i + half + 1)) for i in range(n)]
    return [(prefix[hi] - prefix[lo]) / (hi - lo) for lo, hi in windows]


def _draw(ax, steps: list[int], values: list[float], label: str, color: str) -> None:
    if len(values) >= SMOOTH_FROM:  # noisy RL curves: the raw values faint, a moving average on top
        ax.plot(steps, values, color=color, alpha=0.25, linewidth=1)
        ax.plot(steps, smooth(values), color=color, linewidth=2, label=label)
    else:
        ax.plot(steps, values, color=color, linewidth=1.8, marker="o", markersize=3.5, label=label)


Line = tuple[str, list[int], list[float]]


def merge_identical(lines: Sequence[Line]) -> list[Line]:
    """Drop empty series; draw equal ones once, labelled 'a = b' (one data_source equals 'all')."""
    out: list[Line] = []
    for label, steps, values in lines:
        same = next((i for i, (_, s, v) in enumerate(out) if s == steps and v == values), None)
        if same is not None:
            out[same] = (f"{out[same][0]} = {label}", steps, values)
        elif values:
            out.append((label, steps, values))
    return out


def render(spec: PlotSpec, rows: Sequence[dict[str, Any]]) -> bytes | None:
    """The plot as PNG bytes, or None when the run has none of its metrics."""
    keys = sorted({k for row in rows for k in row if k != "step"})
    lines = merge_identical([(label, *series(rows, key)) for key, label in matched_series(spec, keys)])
    if not lines:
        return None
    fig = Figure(figsize=(6.4, 3.4), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, (label, steps, values) in enumerate(lines):
        _draw(ax, steps, values, label, LABEL_COLORS.get(label, COLORS[i % len(COLORS)]))
    ax.set_title(spec.title, loc="left", fontsize=11, fontweight="bold", color="#111827")
    ax.set_xlabel("step", fontsize=9, color="#374151")
    ax.set_ylabel(spec.ylabel, fontsize=9, color="#374151")
    if spec.unit_range:
        ax.set_ylim(-0.03, 1.03)
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8, colors="#4b5563")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9ca3af")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    first, last = min(s[0] for _, s, _ in lines), max(s[-1] for _, s, _ in lines)
    if last - first < 2:  # one or two steps: room for integer ticks
        ax.set_xlim(first - 1, last + 1)
    if len(lines) > 1 or len(spec.series) > 1:  # a lone line may stand for several: 'all = gsm8k'
        fig.legend(loc="outside lower center", fontsize=8, frameon=False, ncols=min(len(lines), 4))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
