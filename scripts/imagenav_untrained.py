"""Held-out floors a trained arm must beat: an untrained policy (with the pose probe), and blind
scripted policies (FORWARD k times, then STOP, whatever the pictures).

    python scripts/imagenav_untrained.py recipes/imagenav/channelcat.yaml [override ...] --out X.json
    python scripts/imagenav_untrained.py recipes/imagenav/channelcat.yaml --blind 0 1 2 3 4 --out Y.json

The policy is built exactly as ``rlvr train`` builds it (same seed), then evaluated as at the end of
a run (``rlvr.embodied.evaluate.evaluate_run``); the blind policies run on the same held-out episodes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from rlvr.embodied.config import ImageNavConfig, load_imagenav_config
from rlvr.embodied.evaluate import EVAL_SEED, evaluate_run
from rlvr.embodied.train import make_policy


def blind(cfg: ImageNavConfig, k: int) -> dict[str, float]:
    """Held-out SR / SPL / collisions of the scripted policy FORWARD x k, STOP (the eval's episodes)."""
    from rlvr.embodied.env import FORWARD, STOP, ImageNavEnv

    env = ImageNavEnv(cfg.env, "test", seed=cfg.seed + EVAL_SEED)
    env.max_goal_distance = cfg.env.goal_max
    env._new_episode(0)
    stats = []
    try:
        for _ in range(cfg.eval.episodes):
            for _ in range(k):
                env.step(FORWARD)
            stats.append(env.step(STOP)[4])
    finally:
        env.close()
    return {
        f"eval/heldout/{m}": float(np.mean([s[f"ep_{m}"] for s in stats]))
        for m in ("success", "spl", "collisions")
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--blind", nargs="+", type=int, default=None, help="scripted: FORWARD k times, STOP")
    args = ap.parse_args(argv)
    cfg = load_imagenav_config(args.recipe, args.overrides)
    if args.blind is not None:
        rows = [{"forward_steps": k, **blind(cfg, k)} for k in args.blind]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
        print(json.dumps(rows))
        return 0
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    policy = make_policy(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        final = evaluate_run(policy, cfg, Path(tmp), probe=True)
    result = {"recipe": args.recipe, "overrides": args.overrides, "arch": cfg.policy.arch, **final}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
