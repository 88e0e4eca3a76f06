"""How a GRPO step's time and peak memory grow with the work, for rlvr and TRL side by side (CPU).

    python benchmarks/scaling.py                         # the three sweeps, a table and docs/scaling.png
    python benchmarks/scaling.py --shape llama-30m --lengths 16 64 256

Three sweeps from one base point (--base-group prompts x completions, --base-length new tokens), one
setting moved at a time: the group size (completions a prompt), the completion length limit, and the
prompts a step. Each point runs each trainer in its own subprocess through
``benchmarks/vs_trl_shapes.py`` (same model, prompts, EOS bias, matched settings, 1 thread, float32;
peak resident memory is that process's ``ru_maxrss``). The PNG has step time (top) and peak memory
(bottom) against each setting, log-log. "Tokens" on the x axes are what the setting multiplies: a
cost that grows faster than the line of slope 1 grows faster than the tokens do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import vs_trl_shapes as shapes  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="tiny", choices=list(shapes.SHAPES))
    p.add_argument("--groups", type=int, nargs="+", default=[4, 16, 64])
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 256, 1024])
    p.add_argument("--prompts", type=int, nargs="+", default=[2, 8, 32])
    p.add_argument("--base-prompts", type=int, default=2)
    p.add_argument("--base-group", type=int, default=8)
    p.add_argument("--base-length", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--output", default="benchmarks/results/scaling.json")
    p.add_argument("--png", default="docs/scaling.png")
    return p.parse_args(argv)


def point(args: argparse.Namespace, prompts: int, n: int, length: int) -> dict[str, dict]:
    sub = shapes.parse_args(
        [
            "--steps",
            str(args.steps),
            "--prompts",
            str(prompts),
            "--n",
            str(n),
            "--max-new-tokens",
            str(length),
        ]
    )
    return {t: shapes.run_child(sub, t, args.shape) for t in ("rlvr", "trl")}


def sweeps(args: argparse.Namespace) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"group size": [], "completion length": [], "prompts per step": []}
    for n in args.groups:
        out["group size"].append({"x": n, **point(args, args.base_prompts, n, args.base_length)})
        print(json.dumps(out["group size"][-1]), flush=True)
    for length in args.lengths:
        out["completion length"].append(
            {"x": length, **point(args, args.base_prompts, args.base_group, length)}
        )
        print(json.dumps(out["completion length"][-1]), flush=True)
    for prompts in args.prompts:
        out["prompts per step"].append(
            {"x": prompts, **point(args, prompts, args.base_group, args.base_length)}
        )
        print(json.dumps(out["prompts per step"][-1]), flush=True)
    return out


def plot(results: dict[str, list[dict]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for col, (name, points) in enumerate(results.items()):
        ok = [p for p in points if "error" not in p["rlvr"] and "error" not in p["trl"]]
        xs = [p["x"] for p in ok]
        for row, key, label in ((0, "s_per_step", "s / step"), (1, "peak_rss_gib", "peak RSS (GiB)")):
            ax = axes[row][col]
            for trainer, style in (("rlvr", "o-"), ("trl", "s--")):
                ax.plot(xs, [p[trainer][key] for p in ok], style, label=trainer)
            if row == 0 and xs:  # slope 1 through rlvr's first point: cost proportional to the setting
                y0 = ok[0]["rlvr"][key]
                ax.plot(xs, [y0 * x / xs[0] for x in xs], ":", color="grey", label="slope 1")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel(name)
            ax.set_ylabel(label)
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def table(results: dict[str, list[dict]]) -> str:
    lines = [
        "| sweep | x | s/step rlvr | s/step trl | trl/rlvr | peak RSS rlvr | peak RSS trl | completion tokens (mean) |"
    ]
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, points in results.items():
        for p in points:
            a, b = p["rlvr"], p["trl"]
            if "error" in a or "error" in b:
                lines.append(f"| {name} | {p['x']} | failed: {a.get('error') or b.get('error')} |")
                continue
            lines.append(
                f"| {name} | {p['x']} | {a['s_per_step']} | {b['s_per_step']} | {b['s_per_step'] / a['s_per_step']:.2f}x "
                f"| {a['peak_rss_gib']} | {b['peak_rss_gib']} | {a['mean_completion_tokens']} / {b['mean_completion_tokens']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = sweeps(args)
    title = (
        f"{args.shape}: base {args.base_prompts} prompts x {args.base_group}, {args.base_length} new tokens; "
        f"{args.steps} steps (median of 2..N), CPU, 1 thread"
    )
    print(title)
    print(table(results))
    Path(args.output).write_text(json.dumps({"args": vars(args), "sweeps": results}, indent=1))
    plot(results, args.png, title)


if __name__ == "__main__":
    main()
