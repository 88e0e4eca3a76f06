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
# The same budget for every arm: GRPO over whole trajectories, each turn compared on its reward-to-go
# (the multi-turn toy's fastest learner on this CPU), 30 steps x 8 topics x 8 episodes.
TRAIN = [
    "algorithm.advantage=grpo",
    "multiturn.turn_rewards=return",
    "critic=null",
    "optim.lr=1e-3",
    "trainer.steps=30",
    "trainer.prompts_per_step=8",
    "trainer.mini_batch_size=64",
    "data.eval.0.size=8",
]
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


def evaluate(model: str, tom: str, rounds: int, log: Path) -> dict[str, float]:
    cmd = [sys.executable, "scripts/eval_episodes.py", RECIPE, f"model.path={model}", "model.tiny=null"]
    out = run([*cmd, *tom_overrides(tom, rounds)], log)
    metrics = json.loads(out[out.index("{") :])
    return {k: metrics.get(f"eval/episode/all/env/{k}", float("nan")) for k in KEYS} | {
        "return_mean": metrics["eval/episode/all/return_mean"],
        "max_total_tokens_stops": metrics["eval/episode/all/stop/max_total_tokens"],
    }


def record(row: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "results.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    p.add_argument("--arms", nargs="*", default=["rl_only", "tomap"])
    p.add_argument("--base-only", action="store_true")
    p.add_argument("--rounds", type=int, nargs="*", default=[3, 6])
    p.add_argument("--steps", type=int, default=None, help="override trainer.steps")
    args = p.parse_args()
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
                *tom_overrides(TOM[arm]),
            ]
            if args.steps:
                cmd.append(f"trainer.steps={args.steps}")
            start = time.time()
            run(cmd, logs / f"{name}-train.log")
            train_s = time.time() - start
            for rounds in args.rounds:
                m = evaluate(f"runs/{name}/final", TOM[arm], rounds, logs / f"{name}-r{rounds}.log")
                record({"arm": arm, "seed": seed, "rounds": rounds, "train_s": round(train_s), **m})
    return 0


if __name__ == "__main__":
    sys.exit(main())
