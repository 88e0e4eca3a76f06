"""Time recipes/tiny/fsdp.yaml (2 FSDP2 learner ranks on gloo, Ray, 2 CPUs) against the same recipe with one
learner process (learner.world_size=1), and compare their reward curves step by step.

    python benchmarks/fsdp_tiny.py                     # -> experiments/fsdp/tiny_fsdp.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from rlvr.cli import main as rlvr_main
from rlvr.tracking.logger import read_metrics

ROOT = Path(__file__).resolve().parents[1]


def run(name: str, out: Path, *overrides: str) -> dict:
    t0 = time.perf_counter()
    code = rlvr_main(
        ["--quiet", "train", str(ROOT / "recipes/tiny/fsdp.yaml"), f"trainer.output_dir={out}",
         f"trainer.run_name={name}", *overrides]
    )  # fmt: skip
    wall = time.perf_counter() - t0
    assert code == 0, code
    rows = [r for r in read_metrics(out / name / "metrics.jsonl") if "perf/step_s" in r]
    return {
        "overrides": list(overrides),
        "wall_s": wall,
        "median_step_s": statistics.median(r["perf/step_s"] for r in rows[1:]),
        "median_update_s": statistics.median(r["perf/update_s"] for r in rows[1:]),
        "median_weight_sync_s": statistics.median(r["perf/weight_sync_s"] for r in rows[1:]),
        "reward_mean": [r["reward/all/reward_mean"] for r in rows],
        "pg_loss": [r.get("train/pg_loss") for r in rows],
    }


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rlvr-fsdp-tiny")
    results = {
        "world_size_2": run("ws2", out),
        "world_size_1": run("ws1", out, "learner.world_size=1"),
    }
    a, b = results["world_size_2"]["reward_mean"], results["world_size_1"]["reward_mean"]
    results["max_reward_gap"] = max(abs(x - y) for x, y in zip(a, b, strict=True))
    dest = ROOT / "experiments/fsdp/tiny_fsdp.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
