"""benchmarks/vs_trl.py over several seeds, pooled: one seed's 30 steps are a small sample of a noisy
machine and of a random learning curve.

    python benchmarks/vs_trl_seeds.py                       # seeds 0..4, ~4 minutes on a quiet 2-core CPU
    python benchmarks/vs_trl_seeds.py --seeds 0 1 2 --steps 60

Each seed is a full run of ``vs_trl.main`` (its own SFT start, both trainers interleaved step by step,
both evaluated on the same 300 held-out problems). The summary pools the per-step ratios (TRL's step i
over rlvr's step i, steps 2..N) of every seed and reports their median, the per-seed ratios of median
step times, and the held-out accuracy of both trainers per seed and on average. Options other than
--seeds and --output go to vs_trl.py unchanged.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import vs_trl


def parse_args() -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--output", default="benchmarks/results/vs_trl_seeds.json")
    return p.parse_known_args()


def _mean_curve_ends(runs: list[dict[str, Any]], side: str) -> tuple[float, float]:
    """Mean reward of the first and of the last 5 steps of the seeds' average learning curve."""
    curve = [
        statistics.fmean(step) for step in zip(*(res[side]["reward_per_step"] for res in runs), strict=True)
    ]
    k = min(5, len(curve))
    return statistics.fmean(curve[:k]), statistics.fmean(curve[-k:])


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The pooled figures of several ``vs_trl.main`` results."""
    per_step = [
        t / r
        for res in runs
        for t, r in zip(res["trl"]["step_s"][1:], res["rlvr"]["step_s"][1:], strict=True)
    ]
    return {
        "seeds": [res["settings"]["seed"] for res in runs],
        "paired_ratio_median": statistics.median(per_step),
        "paired_ratio_quartiles": statistics.quantiles(per_step, n=4),
        "ratio_per_seed": [res["ratio_trl_over_rlvr"] for res in runs],
        "rlvr_sec_per_step_median": statistics.median(s for res in runs for s in res["rlvr"]["step_s"][1:]),
        "trl_sec_per_step_median": statistics.median(s for res in runs for s in res["trl"]["step_s"][1:]),
        "rlvr_reward_first5_last5": _mean_curve_ends(runs, "rlvr"),
        "trl_reward_first5_last5": _mean_curve_ends(runs, "trl"),
        "rlvr_heldout": [res["rlvr"]["heldout_accuracy"] for res in runs],
        "trl_heldout": [res["trl"]["heldout_accuracy"] for res in runs],
        "sft_heldout": [res["sft_accuracy"] for res in runs],
    }


def main() -> dict[str, Any]:
    args, rest = parse_args()
    runs = []
    for seed in args.seeds:
        out = Path(args.output).with_name(f"vs_trl_seed{seed}.json")
        runs.append(vs_trl.main([*rest, "--seed", str(seed), "--output", str(out)]))
    summary = pooled(runs)
    print("\nseed   ratio (median step times)   held-out: SFT start   rlvr    trl")
    for i, seed in enumerate(summary["seeds"]):
        print(
            f"{seed:>4}   {summary['ratio_per_seed'][i]:>25.2f}x   {summary['sft_heldout'][i]:>17.1%}"
            f"   {summary['rlvr_heldout'][i]:.1%}   {summary['trl_heldout'][i]:.1%}"
        )
    mean = statistics.fmean
    q1, _, q3 = summary["paired_ratio_quartiles"]
    print(
        f"\npooled over {len(runs)} seeds: median step rlvr {summary['rlvr_sec_per_step_median']:.3f} s, "
        f"trl {summary['trl_sec_per_step_median']:.3f} s; median per-step ratio (trl/rlvr) "
        f"{summary['paired_ratio_median']:.2f}x (quartiles {q1:.2f}x-{q3:.2f}x)"
    )
    (r0, r1), (t0, t1) = summary["rlvr_reward_first5_last5"], summary["trl_reward_first5_last5"]
    print(
        f"mean learning curve, reward of the first 5 -> last 5 steps: rlvr {r0:.3f} -> {r1:.3f}, trl {t0:.3f} -> {t1:.3f}"
    )
    print(
        f"mean held-out accuracy: rlvr {mean(summary['rlvr_heldout']):.1%}, "
        f"trl {mean(summary['trl_heldout']):.1%} (SFT start {mean(summary['sft_heldout']):.1%})"
    )
    print(f"results in {vs_trl.save_results(summary, args.output)}")
    return summary


if __name__ == "__main__":
    main()
