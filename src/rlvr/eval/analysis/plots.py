"""PNG plots of the analyses, drawn with matplotlib's Agg canvas (no pyplot). Import lazily: it is heavy."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def confidence_png(
    reports: Mapping[str, Mapping[str, Any]], title: str = "Answer NLL along the trace"
) -> bytes:
    """One line per (report, correct/incorrect) average; faint per-trace curves when there is one report."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    single = len(reports) == 1
    for i, (label, rep) in enumerate(reports.items()):
        color = COLORS[i % len(COLORS)]
        if single:
            for c in rep["curves"][:64]:
                if len(c["points"]) > 1:
                    span = c["points"][-1] - c["points"][0]
                    xs = [(p - c["points"][0]) / span for p in c["points"]]
                    ax.plot(xs, c["nll"], color="#16a34a" if c["correct"] else "#dc2626", alpha=0.12, lw=0.8)
        avg = rep["average"]
        for kind, style in (("correct", "-"), ("incorrect", "--")):
            if avg.get(kind):
                who = f"{label}: " if not single else ""
                color_k = color if not single else ("#16a34a" if kind == "correct" else "#dc2626")
                ax.plot(
                    avg["x"],
                    avg[kind],
                    style,
                    color=color_k,
                    lw=2,
                    label=f"{who}{kind} (n={avg[f'n_{kind}']})",
                )
    ax.set_xlabel("fraction of the trace read")
    ax.set_ylabel("answer NLL (nats / gold token)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def lines_png(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str, ylabel: str
) -> bytes:
    """Plain lines: {label: (xs, ys)}."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, (xs, ys)) in enumerate(series.items()):
        ax.plot(xs, ys, "o-", color=COLORS[i % len(COLORS)], lw=2, ms=4, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)
