"""VLAA-Thinking's claim at tiny scale: GRPO alone vs SFT then GRPO, equal optimizer steps, plus a
text-only (blank image) control. Every arm starts from the blank-image base (recipes/tiny/vlm_base.yaml, shape_colour:
format and answers, no vision; chance accuracy) and is scored greedy on 200 held-out red_quadrant
problems. Writes experiments/vlaa_tiny/results.json.

    OMP_NUM_THREADS=1 python scripts/vlaa_tiny_experiment.py --seeds 0 [--steps 60 --sft-steps 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RUNS = Path("runs/vlaa-tiny")
OUT = Path("experiments/vlaa_tiny/results.json")


def rlvr(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "rlvr.cli", *args], check=True, stdout=subprocess.DEVNULL)


def final_accuracy(run: Path) -> float:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "eval/all/accuracy" in r][-1]["eval/all/accuracy"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--sft-steps", type=int, default=20)
    ap.add_argument("--base-steps", type=int, default=150)
    a = ap.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for seed in a.seeds:
        base = RUNS / f"base-{seed}"
        common = ["trainer.output_dir=" + str(RUNS), f"trainer.seed={seed}"]
        if not (base / "sft").exists():
            rlvr(
                "sft",
                "recipes/tiny/vlm_base.yaml",
                *common,
                f"trainer.run_name=base-{seed}",
                f"sft.steps={a.base_steps}",
                f"model.tiny.seed={seed}",
            )
        start = ["model.path=" + str(base / "sft"), "model.tiny_vlm=null", "model.tiny=null", *common]
        arms = {}
        t0 = time.time()
        rlvr(
            "train",
            "recipes/tiny/vlaa_grpo.yaml",
            *start,
            f"trainer.steps={a.steps}",
            f"trainer.run_name=grpo-{seed}",
            "trainer.eval_every=0",
        )
        arms["grpo"] = {"accuracy": final_accuracy(RUNS / f"grpo-{seed}"), "wall_s": time.time() - t0}
        t0 = time.time()
        rlvr(
            "sft",
            "recipes/tiny/vlaa_sft_grpo.yaml",
            *start,
            f"sft.steps={a.sft_steps}",
            f"trainer.run_name=sft-{seed}",
        )
        rlvr(
            "train",
            "recipes/tiny/vlaa_sft_grpo.yaml",
            "model.path=" + str(RUNS / f"sft-{seed}" / "sft"),
            "model.tiny_vlm=null",
            "model.tiny=null",
            *common,
            f"trainer.steps={a.steps - a.sft_steps}",
            f"trainer.run_name=sft-grpo-{seed}",
            "trainer.eval_every=0",
        )
        arms["sft_grpo"] = {"accuracy": final_accuracy(RUNS / f"sft-grpo-{seed}"), "wall_s": time.time() - t0}
        t0 = time.time()
        blank = ["data.train.0.kwargs.blank=true", "data.eval.0.kwargs.blank=true"]
        rlvr(
            "train",
            "recipes/tiny/vlaa_grpo.yaml",
            *start,
            *blank,
            f"trainer.steps={a.steps}",
            f"trainer.run_name=blank-grpo-{seed}",
            "trainer.eval_every=0",
        )
        arms["grpo_blank_images"] = {
            "accuracy": final_accuracy(RUNS / f"blank-grpo-{seed}"),
            "wall_s": time.time() - t0,
        }
        results[str(seed)] = arms
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, indent=2))
        print(seed, json.dumps(arms), flush=True)


if __name__ == "__main__":
    main()
