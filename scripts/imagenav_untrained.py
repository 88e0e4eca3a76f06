"""Held-out evaluation (and the pose probe) of an untrained policy: the floor a trained arm must beat.

    python scripts/imagenav_untrained.py recipes/imagenav/channelcat.yaml [override ...] --out X.json

The policy is built exactly as ``rlvr train`` builds it (same seed), then evaluated as at the end of
a run (``rlvr.embodied.evaluate.evaluate_run``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from rlvr.embodied.config import load_imagenav_config
from rlvr.embodied.evaluate import evaluate_run
from rlvr.embodied.train import make_policy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    cfg = load_imagenav_config(args.recipe, args.overrides)
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
