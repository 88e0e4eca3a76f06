"""V-Triune's dynamic IoU threshold (0.85 / 0.95 / 0.99 at 10% / 25% of training) vs a fixed 0.5, on
the tiny shape_box task (recipes/tiny/orsta_box.yaml). Both arms start from one SFT base (gold boxes) and
run the same GRPO steps; each is scored greedy on 200 held-out problems: mean IoU of the answered box
(0 when no box) and IoU@0.5 / 0.75 / 0.99 (fraction of problems whose box reaches that IoU; on the
recipe's 8x8 grid, 0.99 = the exact box). Writes experiments/iou_schedule/results.json (the recipe's
GRPO lr) or results_lr<lr>[_steps<n>].json (``--lr``, ``--steps`` other than 40); the base is trained once and shared.

    OMP_NUM_THREADS=1 python scripts/iou_schedule_experiment.py --seeds 0 1 2
    OMP_NUM_THREADS=1 python scripts/iou_schedule_experiment.py --seeds 0 1 2 --lr 1e-4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import cast

RECIPE = "recipes/tiny/orsta_box.yaml"
RUNS = Path("runs/iou-schedule-grid")
OUT = Path("experiments/iou_schedule/results.json")
ARMS = {"dynamic": [], "fixed_0.5": ["reward.schedules.0.values=[0.5,0.5,0.5]"]}


def rlvr(*args: str) -> float:
    t0 = time.time()
    subprocess.run(
        [sys.executable, "-m", "rlvr.cli", "--quiet", *args], check=True, stdout=subprocess.DEVNULL
    )
    return round(time.time() - t0, 1)


def score(model: Path) -> dict[str, float]:
    """Greedy mean IoU, IoU@0.5 / 0.75 / 0.99 and share of answers with a box on the 200 held-out problems."""
    from rlvr.config import ModelConfig, load_config
    from rlvr.data.specs import SyntheticDatasetSpec
    from rlvr.data.visual_tasks import shape_box
    from rlvr.models.load import load_model, load_tokenizer
    from rlvr.rewards.types import RewardResult
    from rlvr.rewards.verifiers.detection import iou
    from rlvr.rollout.prompts import encode_prompts
    from rlvr.rollout.types import SamplingParams
    from rlvr.rollout.vlm_generate import VisionEngine

    warnings.filterwarnings("ignore")
    spec = load_config(RECIPE).data.eval[0]
    assert isinstance(spec, SyntheticDatasetSpec), f"{RECIPE}: data.eval[0] must be a synthetic spec"
    test = shape_box(spec.size, spec.seed, **spec.kwargs)
    cfg = ModelConfig(path=str(model), device="cpu")
    tok = load_tokenizer(cfg)
    engine = VisionEngine(load_model(cfg, tok), tok, 256, seed=0)
    outs = engine.generate(encode_prompts(tok, test), SamplingParams(n=1, temperature=0, max_new_tokens=96))
    results = [
        cast(RewardResult, iou(c.text, s.reward.ground_truth)) for s, c in zip(test, outs, strict=True)
    ]
    rates = {
        f"iou@{t}": round(
            sum(r.info.get("metrics", {}).get(f"iou@{t}", 0.0) for r in results) / len(results), 4
        )
        for t in ("0.5", "0.75", "0.99")
    }
    return {
        "mean_iou": round(sum(r.score for r in results) / len(results), 4),
        **rates,
        "answered_a_box": round(sum(1 for r in results if "metrics" in r.info) / len(results), 4),
    }


def recipe_lr() -> float:
    from rlvr.config import load_config

    return load_config(RECIPE).optim.lr


def save(results: dict[str, object], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--base-steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=None, help="GRPO lr (default: the recipe's 5e-4)")
    a = ap.parse_args()
    tag = ("" if a.lr is None else f"_lr{a.lr:g}") + ("" if a.steps == 40 else f"_steps{a.steps}")
    out = OUT.with_name(f"results{tag}.json")
    lr = [] if a.lr is None else [f"optim.lr={a.lr}"]
    results = json.loads(out.read_text()) if out.exists() else {}
    if tag and "base" not in results and OUT.exists():
        results["base"] = json.loads(OUT.read_text()).get("base", {})
    base = RUNS / "base" / "sft"
    common = [f"trainer.output_dir={RUNS}"]
    if not base.exists():
        wall = rlvr("sft", RECIPE, *common, "trainer.run_name=base", f"sft.steps={a.base_steps}")
        results["base"] = {"sft_steps": a.base_steps, "wall_s": wall}
    if "mean_iou" not in results.get("base", {}):
        results["base"] = score(base) | results.get("base", {"sft_steps": a.base_steps})
        print("base", results["base"], flush=True)
        save(results, out)
    start = [f"model.path={base}", "model.tiny_vlm=null", "model.tiny=null", *common]
    for seed in a.seeds:
        for arm, overrides in ARMS.items():
            name = f"{arm}-{seed}{tag.replace('_', '-')}"
            wall = rlvr(
                "train",
                RECIPE,
                *start,
                f"trainer.seed={seed}",
                f"trainer.steps={a.steps}",
                f"trainer.run_name={name}",
                *overrides,
                *lr,
            )
            row = score(RUNS / name / "final") | {
                "grpo_steps": a.steps,
                "wall_s": wall,
                "lr": a.lr or recipe_lr(),
            }
            results.setdefault(str(seed), {})[arm] = row
            print(seed, arm, row, flush=True)
            save(results, out)


if __name__ == "__main__":
    main()
