"""PPO with a critic on recipes/tiny/fsdp.yaml, three arms with the same seed and budget (4 steps):

- ``one``: backend local, one learner process;
- ``sharded-object-store``: 2 FSDP2 learner ranks (Ray actors, gloo), policy and critic sharded, weights
  to the rollout actor through the object store in 50 KiB buckets;
- ``sharded-broadcast``: the same with ``learner.weight_sync: broadcast`` (a gloo weight-sync group).

Claim: the three follow the same rewards, policy loss and value loss step for step. Writes the per-step
numbers and the largest differences to experiments/fsdp-ppo-sync/results.json.

    python scripts/fsdp_ppo_sync_check.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

KEYS = ("reward/all/reward_mean", "train/pg_loss", "critic/value_loss", "critic/grad_norm")
COMMON = ["trainer.steps=4", "trainer.save_every=2", "algorithm.advantage=gae", "critic={lr: 1e-5}"]
ARMS = {
    "one": ["backend=local", "learner.world_size=1"],
    "sharded-object-store": ["learner.weight_sync_bucket_mb=0.05"],
    "sharded-broadcast": ["learner.weight_sync=broadcast", "learner.weight_sync_bucket_mb=0.05"],
}


def run(arm: str, overrides: list[str], out: Path) -> list[dict[str, float]]:
    cmd = ["rlvr", "train", "recipes/tiny/fsdp.yaml", *COMMON, *overrides, f"trainer.output_dir={out}"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (run_dir,) = list(out.iterdir())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: r[k] for k in KEYS} | {"step": r["step"]} for r in rows if "critic/value_loss" in r]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {arm: run(arm, o, Path(tmp) / arm) for arm, o in ARMS.items()}
    base = results["one"]
    diffs = {
        arm: {k: max(abs(a[k] - b[k]) for a, b in zip(rows, base, strict=True)) for k in KEYS}
        for arm, rows in results.items()
        if arm != "one"
    }
    out = Path("experiments/fsdp-ppo-sync")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"steps": results, "max_abs_diff": diffs}, indent=1) + "\n")
    json.dump(diffs, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
