"""The ``rlvr`` command line: parsing and dispatch only (heavy imports happen inside the commands)."""

from __future__ import annotations

import argparse
import json
import sys


def _add_recipe(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="YAML recipe, e.g. recipes/quickstart.yaml")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. trainer.steps=10 optim.lr=1e-5")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlvr", description="Reinforcement learning from verifiable rewards.")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="tiny model: SFT then GRPO on digit sorting, on CPU, in minutes")
    q.add_argument("overrides", nargs="*", help="dotted overrides of the quickstart recipe")
    _add_recipe(sub.add_parser("train", help="RL training from a recipe"))
    _add_recipe(sub.add_parser("sft", help="supervised fine-tuning from a recipe"))
    e = sub.add_parser("eval", help="evaluate a model on the recipe's data.eval (pass@k, accuracy)")
    _add_recipe(e)
    e.add_argument("--model", help="model directory or hub id (default: the recipe's model)")
    e.add_argument("--output", help="write the metrics as JSON to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rlvr.config import ConfigError

    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"rlvr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlvr: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    show = not args.quiet
    if args.command == "quickstart":
        from rlvr.quickstart import run_quickstart

        run_quickstart(args.overrides, show_progress=show)
        return 0
    from rlvr.config import load_config

    cfg = load_config(args.recipe, args.overrides)
    if args.command == "train":
        from rlvr.training.trainer import RLTrainer

        trainer = RLTrainer(cfg, show_progress=show)
        print(f"rlvr train: run directory {trainer.run_dir}")
        final = trainer.fit()
        trainer.close()
        _print_metrics(final)
    elif args.command == "sft":
        from rlvr.tracking.run_dir import new_run_dir
        from rlvr.training.sft import run_sft

        run_dir = new_run_dir(cfg.trainer.output_dir, f"{cfg.name}-sft", cfg.trainer.run_name)
        print(f"rlvr sft: run directory {run_dir}")
        print(f"rlvr sft: model saved to {run_sft(cfg, run_dir, show_progress=show)}")
    elif args.command == "eval":
        from rlvr.eval.run import run_eval

        metrics = run_eval(cfg, model=args.model, output=args.output)
        _print_metrics(metrics)
    return 0


def _print_metrics(metrics: dict[str, float]) -> None:
    for key in sorted(metrics):
        print(f"  {key}: {metrics[key]:.4f}")


if __name__ == "__main__":
    sys.exit(main())
