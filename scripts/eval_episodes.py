"""Held-out success of a model on a recipe's multi-turn eval episodes (greedy unless the recipe says
otherwise), without training: the "before" figure of an RL run.

    python scripts/eval_episodes.py recipes/tiny/multiturn.yaml model.path=runs/multiturn-sft/sft model.tiny=null
"""

from __future__ import annotations

import json
import sys

from rlvr.config import load_config
from rlvr.distributed.placement import build_roles
from rlvr.training.trainer import RLTrainer


def main(argv: list[str]) -> int:
    cfg = load_config(argv[0], argv[1:])
    trainer = RLTrainer(cfg, build_roles(cfg), show_progress=False)
    try:
        metrics = trainer.evaluate()
    finally:
        trainer.close()
    print(json.dumps({k: v for k, v in metrics.items() if "/all/" in k}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
