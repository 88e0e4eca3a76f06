"""The blind floor of an image-goal task: the best policy that never looks at the pictures.

    python scripts/imagenav_floor.py recipes/imagenav/channelcat.yaml [override ...] \
        --archs channelcat late_fusion --out experiments/imagenav/floor_straight.json

On the held-out episodes of the final evaluation (same env, seed and episode order as
``rlvr.embodied.evaluate.evaluate_run``): every blind script LEFT^j FORWARD^k STOP (j over a whole
circle of turns, k = 0..K), a uniformly random policy, and the untrained policy of each ``--archs``
(built as ``rlvr train`` builds it, same seed, actions sampled as in the evaluation).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch

from rlvr.embodied.config import load_imagenav_config
from rlvr.embodied.evaluate import evaluate_run, heldout_env
from rlvr.embodied.floors import best_scripted, random_policy, scripted_walks
from rlvr.embodied.train import make_policy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--archs", nargs="*", default=[], help="untrained policies to score too")
    args = ap.parse_args(argv)
    cfg = load_imagenav_config(args.recipe, args.overrides)
    env = heldout_env(cfg)
    turns = max(1, round(360.0 / cfg.env.turn_deg))
    max_forward = math.ceil((cfg.env.goal_max + cfg.env.success_radius) / cfg.env.forward_step) + 2
    try:
        success, spl, _ = scripted_walks(env, cfg.eval.episodes, turns, max_forward)
        rand = random_policy(env, cfg.eval.episodes, seed=cfg.seed)
    finally:
        env.close()
    by_k = success.mean(0)  # (J, K+1)
    result: dict = {
        "recipe": args.recipe,
        "overrides": args.overrides,
        "env": cfg.env.model_dump(),
        "episodes": cfg.eval.episodes,
        "best_scripted": best_scripted(success, spl),
        "scripted_success_by_turns_forward": by_k.round(4).tolist(),
        "random": rand,
        "untrained": {},
    }
    torch.set_num_threads(cfg.threads)
    for arch in args.archs:
        c = cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"arch": arch})})
        torch.manual_seed(c.seed)
        with tempfile.TemporaryDirectory() as tmp:
            result["untrained"][arch] = evaluate_run(make_policy(c), c, Path(tmp), probe=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("best_scripted", "random", "untrained")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
