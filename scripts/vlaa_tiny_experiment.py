"""VLAA-Thinking's claim at tiny scale: GRPO alone vs SFT then GRPO at an equal compute budget, plus a
blank-image control, on held-out shape_colour problems (greedy, 200; 112-pixel images: 16 image tokens).

Every arm starts from one blank-image base (recipes/tiny/vlm_base.yaml: the <think>/<answer> format and
the four colours, not the picture; chance accuracy). Budget: about the same training wall time per arm
on this CPU (an SFT step costs ~1/6 of a GRPO step, which generates 128 completions): GRPO alone
``--steps`` GRPO steps; SFT then GRPO ``--sft-steps`` SFT steps (gold completions with images) and
``--sft-grpo-steps`` GRPO steps; the control ``--steps`` GRPO steps on blank images. Also two SFT-only
arms (``--sft-only-steps`` steps, images vs blank images): can the tiny VLM read the picture at all?
Appends to experiments/vlaa_tiny/results.json (measured wall times included).

    OMP_NUM_THREADS=1 python scripts/vlaa_tiny_experiment.py --seeds 0 1 2
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
BLANK_EVAL = "data.eval.0.kwargs.blank=true"


def rlvr(*args: str) -> float:
    """Run ``rlvr ARGS`` and return its wall time in seconds."""
    t0 = time.time()
    subprocess.run(
        [sys.executable, "-m", "rlvr.cli", "--quiet", *args], check=True, stdout=subprocess.DEVNULL
    )
    return round(time.time() - t0, 1)


def final_accuracy(run: Path) -> float:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "eval/all/accuracy" in r][-1]["eval/all/accuracy"]


def reward_trend(run: Path, k: int = 10) -> dict[str, float]:
    """Mean sampled training reward over the first and the last ``k`` GRPO steps of ``run``."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    r = [row["reward/all/reward_mean"] for row in rows if "reward/all/reward_mean" in row]
    return {
        f"train_reward_first{k}": round(sum(r[:k]) / k, 3),
        f"train_reward_last{k}": round(sum(r[-k:]) / k, 3),
    }


def summarise(results: dict) -> None:
    """Add each GRPO arm's training-reward trend (from its run directory) to ``results``."""
    names = {"grpo": "grpo-{}", "sft_grpo": "sft-grpo-{}", "grpo_blank_images": "blank-grpo-{}"}
    for seed, arms in results.items():
        for arm, pattern in names.items():
            run = RUNS / pattern.format(seed)
            if arm in arms and (run / "metrics.jsonl").exists():
                arms[arm] |= reward_trend(run)


def evaluate(model: Path, *overrides: str) -> float:
    out = model.parent / "eval.json"
    rlvr("eval", "recipes/tiny/vlaa_grpo.yaml", "--model", str(model), "--output", str(out), *overrides)
    return json.loads(out.read_text())["eval/all/accuracy"]


def start(model: Path, seed: int) -> list[str]:
    return [
        f"model.path={model}",
        "model.tiny_vlm=null",
        "model.tiny=null",
        f"trainer.output_dir={RUNS}",
        f"trainer.seed={seed}",
    ]


def grpo(model: Path, seed: int, name: str, steps: int, *extra: str) -> dict[str, float]:
    wall = rlvr(
        "train",
        "recipes/tiny/vlaa_grpo.yaml",
        *start(model, seed),
        f"trainer.steps={steps}",
        f"trainer.run_name={name}",
        "trainer.eval_every=0",
        *extra,
    )
    return {"accuracy": final_accuracy(RUNS / name), "wall_s": wall, "grpo_steps": steps}


def sft(model: Path, seed: int, name: str, steps: int, *extra: str) -> float:
    return rlvr(
        "sft",
        "recipes/tiny/vlaa_sft_grpo.yaml",
        *start(model, seed),
        f"sft.steps={steps}",
        f"trainer.run_name={name}",
        *extra,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--sft-steps", type=int, default=200)
    ap.add_argument("--sft-grpo-steps", type=int, default=50)
    ap.add_argument("--base-steps", type=int, default=300)
    ap.add_argument("--sft-only-steps", type=int, default=0, help="0: skip the SFT-only arms")
    ap.add_argument("--summarise", action="store_true", help="only add the reward trends of finished runs")
    a = ap.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    if a.summarise:
        summarise(results)
        OUT.write_text(json.dumps(results, indent=2))
        return
    base = RUNS / "base" / "sft"
    if not base.exists():
        wall = rlvr(
            "sft",
            "recipes/tiny/vlm_base.yaml",
            f"trainer.output_dir={RUNS}",
            "trainer.run_name=base",
            f"sft.steps={a.base_steps}",
        )
        results["base"] = {"accuracy": evaluate(base), "sft_steps": a.base_steps, "wall_s": wall}
    for seed in a.seeds:
        arms: dict[str, dict[str, float]] = {}
        if a.sft_only_steps:
            for arm, blank in (("sft_only", []), ("sft_only_blank_images", ["data.sft.0.kwargs.blank=true"])):
                name = f"{arm}-{seed}"
                wall = sft(base, seed, name, a.sft_only_steps, *blank)
                evals = [BLANK_EVAL] if blank else []
                acc = evaluate(RUNS / name / "sft", *evals)
                arms[arm] = {"accuracy": acc, "wall_s": wall, "sft_steps": a.sft_only_steps}
                print(seed, arm, arms[arm], flush=True)
        arms["grpo"] = grpo(base, seed, f"grpo-{seed}", a.steps)
        print(seed, "grpo", arms["grpo"], flush=True)
        wall = sft(base, seed, f"sft-{seed}", a.sft_steps)
        after_sft = evaluate(RUNS / f"sft-{seed}" / "sft")
        arm = grpo(RUNS / f"sft-{seed}" / "sft", seed, f"sft-grpo-{seed}", a.sft_grpo_steps)
        arms["sft_grpo"] = arm | {
            "sft_steps": a.sft_steps,
            "accuracy_after_sft": after_sft,
            "wall_s": arm["wall_s"] + wall,
        }
        print(seed, "sft_grpo", arms["sft_grpo"], flush=True)
        blank = ["data.train.0.kwargs.blank=true", BLANK_EVAL]
        arms["grpo_blank_images"] = grpo(base, seed, f"blank-grpo-{seed}", a.steps, *blank)
        print(seed, "grpo_blank_images", arms["grpo_blank_images"], flush=True)
        results[str(seed)] = results.get(str(seed), {}) | arms
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
