"""Tables for docs/reproductions.md from the image-goal navigation experiments.

    python scripts/imagenav_summary.py supervised experiments/imagenav/supervised_random_32px.jsonl
    python scripts/imagenav_summary.py rl RUN_DIR [RUN_DIR ...] --out experiments/imagenav/rl.json
    python scripts/imagenav_summary.py rl experiments/imagenav/rl_seeds_s11.json ...   # saved summaries

``supervised``: mean and per-seed held-out errors of each module, next to the constant predictor.
``rl``: for each run directory (``rlvr train`` output), the final held-out metrics, the probe errors,
the held-out SR at each evaluation, the training SR over the first and last tenth of the updates, a
training curve over each 100 updates (SR, episode length, policy entropy, the shares of episodes that
STOP and that STOP at once), env steps/s and where the time went; written as one small JSON and printed
as a Markdown table, with Spearman's rank correlation between the final heading-probe error and the
held-out SR over the runs whose perception RL trained (3 or more; frozen perceptions left out). A path
may also be a JSON file this command wrote (``--out``): its summaries are read back, so the tables and
the correlation can be rebuilt from ``experiments/imagenav/`` without the run directories. A run named
twice (continued with ``--resume`` and summarised again) counts once, with its longest summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import yaml

METRICS = ("bearing_err_deg", "distance_err_m", "heading_err_deg")


def supervised_table(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_arch: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_arch.setdefault(r["arch"], []).append(r)
    first = rows[0]
    lines = [
        "| module | perception params | " + " | ".join(METRICS) + " | samples/s |",
        "|---|---|" + "---|" * len(METRICS) + "---|",
        "| constant (mean) predictor | - | "
        + " | ".join(f"{first['const_' + m]:.3g}" for m in METRICS)
        + " | - |",
    ]
    for arch, runs in by_arch.items():
        runs.sort(key=lambda r: r["seed"])
        cells = []
        for m in METRICS:
            vals = [r[m] for r in runs]
            cells.append(f"{statistics.mean(vals):.3g} ({'/'.join(f'{v:.3g}' for v in vals)})")
        sps = statistics.mean(r["samples_per_s"] for r in runs)
        lines.append(f"| {arch} | {runs[0]['params']:,} | " + " | ".join(cells) + f" | {sps:.0f} |")
    return "\n".join(lines)


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _rounded(x: float) -> float | None:
    return None if x != x else round(x, 3)


def rl_summary(run_dir: Path) -> dict[str, Any]:
    rows = _rows(run_dir)
    train = [r for r in rows if "nav/env_steps" in r]
    evals = [r for r in rows if "eval/heldout/success" in r]
    tenth = max(1, len(train) // 10)

    def mean(key: str, part: list[dict[str, Any]]) -> float:
        vals = [r[key] for r in part if isinstance(r.get(key), int | float)]
        return statistics.mean(vals) if vals else float("nan")

    steps_at = {r["step"]: r["nav/env_steps"] for r in train}  # an evaluation's update -> env steps
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").exists() else {}
    out = {
        "run": run_dir.name,
        "arch": cfg.get("policy", {}).get("arch"),
        "sliding": cfg.get("env", {}).get("sliding"),
        "init_from": cfg.get("ppo", {}).get("init_from"),
        "init_perception": cfg.get("policy", {}).get("init_perception"),
        "seed": cfg.get("seed"),
        "entropy_coef": cfg.get("ppo", {}).get("entropy_coef"),
        "freeze_perception": cfg.get("ppo", {}).get("freeze_perception", False),
        "env_steps": train[-1]["nav/env_steps"] if train else 0,
        # ended by ppo.stop_on_collapse (STOP at once): the env steps where it did, else None
        "collapsed_at_env_steps": next(
            (r["nav/collapsed_at_env_steps"] for r in rows if "nav/collapsed_at_env_steps" in r), None
        ),
        "updates": len(train),
        "train_sr_first_tenth": mean("nav/success", train[:tenth]),
        "train_sr_last_tenth": mean("nav/success", train[-tenth:]),
        "train_len_first_tenth": mean("nav/length", train[:tenth]),
        "train_len_last_tenth": mean("nav/length", train[-tenth:]),
        "env_steps_per_s": mean("perf/env_steps_per_s", train),
        "seconds": {
            k: sum(r.get(f"perf/{k}", 0.0) for r in train) for k in ("policy_s", "env_s", "update_s")
        },
        "final": {k: v for k, v in (evals[-1] if evals else {}).items() if k.startswith("eval/")},
        "evals": [
            {
                "env_steps": steps_at.get(r["step"]),
                **{k: v for k, v in r.items() if k.startswith("eval/") or k == "step"},
            }
            for r in evals
        ],
        "train_curve_per_100_updates": [
            {
                "env_steps": part[-1]["nav/env_steps"],
                "train_sr": round(mean("nav/success", part), 3),
                "length": round(mean("nav/length", part), 1),
                "entropy": round(mean("train/entropy", part), 3),
                # logged since session 11; None for older runs
                **{k: _rounded(mean(f"nav/{k}", part)) for k in ("stopped", "stop_at_once")},
            }
            for part in (train[i : i + 100] for i in range(0, len(train) - 99, 100))
        ],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["supervised", "rl"])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="rl: write the summaries here (JSON)")
    args = ap.parse_args(argv)
    for p in args.paths:  # every path checked before any is read
        if not _readable(args.kind, p):
            ap.error(f"{p}: expected {EXPECTED[args.kind]}")
    if args.kind == "supervised":
        for p in args.paths:
            print(f"{p}\n{supervised_table(p)}\n")
        return 0
    sums = load_summaries(args.paths)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(sums, indent=1) + "\n")
    print(
        "| run | env steps | SR | SPL | coll/ep | probe pos (m) | probe head (deg) | train SR first->last | steps/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in sums:
        f = s["final"]
        print(
            f"| {s['run']}{' (collapsed: STOP at once)' if s.get('collapsed_at_env_steps') else ''} "
            f"| {s['env_steps']:,.0f} | {f.get('eval/heldout/success', float('nan')):.3f} "
            f"| {f.get('eval/heldout/spl', float('nan')):.3f} | {f.get('eval/heldout/collisions', float('nan')):.2f} "
            f"| {f.get('eval/heldout/probe_pos_err_m', float('nan')):.2f} "
            f"| {f.get('eval/heldout/probe_heading_err_deg', float('nan')):.1f} "
            f"| {s['train_sr_first_tenth']:.2f} -> {s['train_sr_last_tenth']:.2f} | {s['env_steps_per_s']:.0f} |"
        )
    print("\nheld-out SR at each evaluation (env steps):")
    for s in sums:
        by_update = {e["step"]: e for e in s["evals"]}  # the final evaluation repeats the last periodic one
        print(f"  {s['run']}: " + ", ".join(_eval_cell(e) for e in by_update.values()))
    pairs = [
        (f["eval/heldout/probe_heading_err_deg"], f["eval/heldout/success"])
        for f in (s["final"] for s in sums if not _frozen(s))
        if "eval/heldout/probe_heading_err_deg" in f and "eval/heldout/success" in f
    ]
    if len(pairs) >= 3:
        print(probe_correlation(pairs))
    return 0


EXPECTED = {
    "supervised": "the JSONL file that rlvr.embodied.supervised --out writes",
    "rl": "a run directory (with a metrics.jsonl) or a summary .json written by --out",
}


def _readable(kind: str, path: Path) -> bool:
    if kind == "supervised":
        return path.is_file()
    return (path.suffix == ".json" and path.is_file()) or (path / "metrics.jsonl").is_file()


def load_summaries(paths: list[Path]) -> list[dict[str, Any]]:
    """One summary per run, in the order given: a run directory is summarised, a ``.json`` file (written
    by ``--out``) read back; a run seen again keeps the summary with the most env steps."""
    by_run: dict[str, dict[str, Any]] = {}
    for path in paths:
        found = json.loads(path.read_text()) if path.suffix == ".json" else [rl_summary(path)]
        for s in found:
            kept = by_run.get(s["run"])
            if kept is None or s["env_steps"] > kept["env_steps"]:
                by_run[s["run"]] = s
    return list(by_run.values())


def _frozen(summary: dict[str, Any]) -> bool:
    """Whether the run kept its perception fixed; summaries written before the field was recorded name it
    the way the recipes do (``...-frozen-<time>``)."""
    return bool(summary.get("freeze_perception", "-frozen-" in summary["run"]))


def _eval_cell(row: dict[str, Any]) -> str:
    """'600k 11.0%' for one evaluation (by its update's env steps; by the update where they are unknown)."""
    steps = row.get("env_steps")
    label = f"{steps / 1000:.0f}k" if isinstance(steps, int | float) else f"update {row['step']}"
    return f"{label} {100 * row['eval/heldout/success']:.1f}%"


def probe_correlation(pairs: list[tuple[float, float]]) -> str:
    """Spearman's rank correlation between the final heading-probe error and the held-out SR of the
    runs (the paper's claim: a lower probe error goes with a higher SR, i.e. rho < 0)."""
    from scipy.stats import spearmanr

    errs, srs = zip(*pairs, strict=True)
    rho, p = spearmanr(errs, srs)
    return f"Spearman rho(probe heading error, SR) = {rho:.2f} over {len(pairs)} runs (p = {p:.3g})"


if __name__ == "__main__":
    raise SystemExit(main())
