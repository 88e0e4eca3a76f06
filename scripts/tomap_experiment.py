"""ToMAP on the offline persuadee: mean stance shift on held-out topics after 3 and 6 rounds for the warm
start (base), RL only (no ToM modules) and ToMAP (counterclaims + attitude predictor), over seeds.

    python scripts/tomap_experiment.py --seeds 0 1 2 --arms rl_only tomap
    python scripts/tomap_experiment.py --base-only

Needs the SFT warm start (runs/tomap-sft/sft) and the attitude predictor (runs/tomap-attitude); see
recipes/tiny/tomap.yaml. Each arm trains the same recipe with the same budget; only the prompt's ToM
content differs (``env.tom``). Results go to experiments/tomap/results.jsonl, one JSON row per
(arm, seed, rounds) evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RECIPE = "recipes/tiny/tomap.yaml"
SFT = "runs/tomap-sft-informed/sft"
OUT = Path("experiments/tomap")
TOM = {
    "base_none": "none",
    "base_both": "both",
    "rl_only": "none",
    "counterclaims": "counterclaims",
    "tomap": "both",
}
# The same budget for every arm: the recipe as written (PPO with a critic, GAE gamma = lambda = 1,
# KL 0.001, lr 1e-3, 60 steps x 16 topics x 8 episodes); only env.tom differs.
TRAIN: list[str] = []
KEYS = (
    "shift_total",
    "repetition_rate",
    "distinct1",
    "distinct2",
    "arg_tokens",
    "format_violation",
    "attitude_acc",
)


def tom_overrides(tom: str, rounds: int | None = None) -> list[str]:
    out = [f"data.train.0.kwargs.env.tom={tom}", f"data.eval.0.kwargs.env.tom={tom}"]
    if rounds is not None:
        out += [f"data.eval.0.kwargs.rounds={rounds}", f"multiturn.max_total_tokens={min(768, 130 * rounds)}"]
    return out


def run(cmd: list[str], log: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path("src").resolve())}
    start = time.time()
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True, env=env)
    f_out = proc.stdout
    log.with_suffix(".out").write_text(f_out)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    print(f"  {time.time() - start:.0f} s: {' '.join(cmd[:4])}", flush=True)
    return f_out


TEMPERATURE: list[
    str
] = []  # eval.temperature override (--temperature); greedy otherwise, as the official validation


def evaluate(model: str, tom: str, rounds: int, log: Path) -> dict[str, float]:
    out = log.with_suffix(".json")
    cmd = [sys.executable, "-m", "rlvr.cli", "--quiet", "eval", RECIPE, "model.tiny=null"]
    run([*cmd, *tom_overrides(tom, rounds), *TEMPERATURE, "--model", model, "--output", str(out)], log)
    metrics = json.loads(out.read_text())
    return {k: metrics.get(f"eval/episode/all/env/{k}", float("nan")) for k in KEYS} | {
        "return_mean": metrics["eval/episode/all/return_mean"],
        "max_total_tokens_stops": metrics["eval/episode/all/stop/max_total_tokens"],
    }


def record(row: dict) -> None:
    row = {**row, "eval_temperature": float(TEMPERATURE[0].split("=")[1]) if TEMPERATURE else 0.0}
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "results.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def summary() -> str:
    """A markdown table of results.jsonl: per arm and rounds, the mean over seeds (per-seed values)."""
    rows = [json.loads(line) for line in (OUT / "results.jsonl").read_text().splitlines() if line.strip()]
    groups: dict[tuple[str, int, float], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["arm"], r["rounds"], r.get("eval_temperature", 0.0)), []).append(r)
    cols = ("shift_total", "repetition_rate", "distinct2", "arg_tokens", "format_violation", "attitude_acc")
    lines = ["| arm | rounds | eval T | runs | " + " | ".join(cols) + " |", "|---" * (len(cols) + 4) + "|"]
    for (arm, rounds, temp), rs in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
        cells = []
        for c in cols:
            vals = [r[c] for r in rs if r.get(c) == r.get(c)]  # NaN != NaN: metric absent for this arm
            mean = sum(vals) / len(vals) if vals else float("nan")
            each = "/".join(f"{v:.2f}" for v in vals) if len(vals) > 1 else ""
            cells.append(f"{mean:.2f}" + (f" ({each})" if each else "") if vals else "-")
        lines.append(f"| {arm} | {rounds} | {temp:g} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    p.add_argument("--arms", nargs="*", default=["rl_only", "tomap"])
    p.add_argument("--base-only", action="store_true")
    p.add_argument("--rounds", type=int, nargs="*", default=[3, 6])
    p.add_argument("--steps", type=int, default=None, help="override trainer.steps")
    p.add_argument("--summary", action="store_true", help="print the results table and exit")
    p.add_argument(
        "--eval-only", action="store_true", help="evaluate runs/tomap-<arm>-s<seed>/final, no training"
    )
    p.add_argument("--temperature", type=float, help="sample the evaluation episodes at this temperature")
    args = p.parse_args()
    if args.temperature is not None:
        TEMPERATURE.append(f"eval.temperature={args.temperature}")
    if args.summary:
        print(summary())
        return 0
    logs = OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if args.base_only:
        for arm in ("base_none", "base_both"):
            for rounds in args.rounds:
                m = evaluate(SFT, TOM[arm], rounds, logs / f"{arm}-r{rounds}.log")
                record({"arm": arm, "seed": None, "rounds": rounds, **m})
        return 0
    for seed in args.seeds:
        for arm in args.arms:
            name = f"tomap-{arm}-s{seed}"
            cmd = [
                sys.executable,
                "-m",
                "rlvr.cli",
                "--quiet",
                "train",
                RECIPE,
                f"model.path={SFT}",
                "model.tiny=null",
            ]
            cmd += [
                f"trainer.seed={seed}",
                f"trainer.run_name={name}",
                "trainer.eval_every=0",
                *TRAIN,
                *tom_overrides(TOM[arm]),
            ]
            if args.steps:
                cmd.append(f"trainer.steps={args.steps}")
            start = time.time()
            if not args.eval_only:
                run(cmd, logs / f"{name}-train.log")
            train_s = time.time() - start
            for rounds in args.rounds:
                m = evaluate(f"runs/{name}/final", TOM[arm], rounds, logs / f"{name}-r{rounds}.log")
                record(
                    {
                        "arm": arm,
                        "seed": seed,
                        "rounds": rounds,
                        "train_s": None if args.eval_only else round(train_s),
                        **m,
                    }
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
