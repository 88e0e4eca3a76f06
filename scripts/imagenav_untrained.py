"""Held-out floors a trained arm must beat: an untrained policy (with the pose probe), and blind
scripted policies (FORWARD k times, then STOP, whatever the pictures).

    python scripts/imagenav_untrained.py recipes/imagenav/channelcat.yaml [override ...] --out X.json
    python scripts/imagenav_untrained.py recipes/imagenav/channelcat.yaml --blind 0 1 2 3 4 --out Y.json
    python scripts/imagenav_untrained.py recipes/imagenav/channelcat.yaml --checkpoint RUN/checkpoints/latest.pt --out Z.json

The policy is built exactly as ``rlvr train`` builds it (same seed), then evaluated as at the end of
a run (``rlvr.embodied.evaluate.evaluate_run``); the blind policies run on the same held-out episodes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from rlvr.embodied.config import ImageNavConfig, load_imagenav_config
from rlvr.embodied.evaluate import evaluate_run, heldout_env
from rlvr.embodied.floors import scripted_walks
from rlvr.embodied.train import make_policy


def blind(cfg: ImageNavConfig, ks: list[int]) -> list[dict[str, float]]:
    """Held-out SR / SPL / collisions of each scripted policy FORWARD x k, STOP (the eval's episodes): the
    j = 0 row of the blind family in ``rlvr.embodied.floors``."""
    env = heldout_env(cfg)
    try:
        walks = scripted_walks(env, cfg.eval.episodes, turns=1, max_forward=max(ks))
    finally:
        env.close()
    return [
        {
            "forward_steps": k,
            **{f"eval/heldout/{m}": float(getattr(walks, m)[:, 0, k].mean()) for m in walks._fields},
        }
        for k in ks
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--blind", nargs="+", type=int, default=None, help="scripted: FORWARD k times, STOP")
    ap.add_argument(
        "--checkpoint", type=Path, default=None,
        help="evaluate the policy of this training checkpoint (<run>/checkpoints/latest.pt) instead of an "
        "untrained one: held-out SR / SPL and the probe on its perception, as at the end of a run",
    )  # fmt: skip
    args = ap.parse_args(argv)
    cfg = load_imagenav_config(args.recipe, args.overrides)
    if args.blind is not None:
        rows = blind(cfg, args.blind)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
        print(json.dumps(rows))
        return 0
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    policy = make_policy(cfg)
    trained: dict = {}
    if args.checkpoint is not None:
        state = torch.load(args.checkpoint, weights_only=False, map_location="cpu")  # rlvr train's own file
        policy.load_state_dict(state["policy"])
        trained = {"checkpoint": str(args.checkpoint), "env_steps": state["env_steps"]}
    with tempfile.TemporaryDirectory() as tmp:
        final = evaluate_run(policy, cfg, Path(tmp), probe=True)
    result = {"recipe": args.recipe, "overrides": args.overrides, "arch": cfg.policy.arch, **trained, **final}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
