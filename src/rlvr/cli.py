"""The ``rlvr`` command line: parsing and dispatch only (heavy imports happen inside the commands)."""

from __future__ import annotations

import argparse
import os
import sys


def _add_recipe(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="YAML recipe, e.g. recipes/quickstart.yaml")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. trainer.steps=10 optim.lr=1e-5")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlvr", description="Reinforcement learning from verifiable rewards."
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="tiny model: SFT then GRPO on digit sorting, on CPU, in minutes")
    q.add_argument("overrides", nargs="*", help="dotted overrides of the quickstart recipe")
    t = sub.add_parser("train", help="RL training from a recipe")
    _add_recipe(t)
    t.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        metavar="RUN_DIR",
        help="continue a run from its newest complete checkpoint, in its own directory: RUN_DIR, a checkpoint "
        "directory, or (no value) the newest run of this recipe under trainer.output_dir",
    )
    t.add_argument(
        "--force-resume",
        action="store_true",
        help="resume even if the data or a config field that changes the math differs from the checkpoint's",
    )
    _add_recipe(sub.add_parser("sft", help="supervised fine-tuning from a recipe"))
    e = sub.add_parser("eval", help="evaluate a model on the recipe's data.eval (pass@k, accuracy)")
    _add_recipe(e)
    e.add_argument("--model", help="model directory or hub id (default: the recipe's model)")
    e.add_argument("--output", help="write the metrics as JSON to this file")
    e.add_argument(
        "--run-dir", help="also add the metrics to this run's metrics.jsonl (shown by `rlvr report`)"
    )
    r = sub.add_parser("report", help="plots and an HTML page (with sample rollouts) for a run directory")
    r.add_argument("run_dir", help="a run directory, e.g. runs/quickstart-20261125-124037")
    sub.add_parser(
        "serve-rewards", add_help=False, help="HTTP reward server (see `rlvr serve-rewards --help`)"
    ).add_argument("args", nargs=argparse.REMAINDER)
    p = sub.add_parser(
        "pseudo-label",
        help="majority-vote (or wrong-majority) labels from the recipe's model (Spurious Rewards)",
    )
    _add_recipe(p)
    p.add_argument("--k", type=int, default=64, help="samples per question (default 64, as in the paper)")
    p.add_argument("--mode", choices=["majority", "incorrect"], default="majority")
    p.add_argument("--output", required=True, help="JSONL file of relabelled samples (use it as data.train)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "serve-rewards":
        from rlvr.rewards.server import serve_main

        return serve_main([*args.args, *extra])
    if args.command == "report":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        from rlvr.tracking.report import report_main

        return report_main(args.run_dir)
    # Overrides may also follow options (`rlvr eval r.yaml --model m eval.n=4`).
    unknown = [a for a in extra if a.startswith("-") or "=" not in a]
    if unknown or not hasattr(args, "overrides"):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    args.overrides = [*args.overrides, *extra]
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

    if args.command == "train" and args.resume and "=" in args.resume and not os.path.exists(args.resume):
        args.overrides, args.resume = [args.resume, *args.overrides], "auto"  # `--resume trainer.steps=9`
    if args.command == "train" and _is_embodied(args.recipe):  # image-goal navigation: rlvr.embodied
        from rlvr.embodied.train import train_main

        return train_main(args.recipe, args.overrides, args.resume, show)
    cfg = load_config(args.recipe, args.overrides)
    if args.command == "train":
        return _train(cfg, args, show)
    elif args.command == "pseudo-label":
        from rlvr.eval.pseudo_label import pseudo_label_main

        pseudo_label_main(cfg, k=args.k, mode=args.mode, output=args.output)
    elif args.command == "sft":
        from rlvr.tracking.run_dir import new_run_dir
        from rlvr.training.sft import run_sft

        run_dir = new_run_dir(cfg.trainer.output_dir, f"{cfg.name}-sft", cfg.trainer.run_name)
        print(f"rlvr sft: run directory {run_dir}")
        print(f"rlvr sft: model saved to {run_sft(cfg, run_dir, show_progress=show)}")
    elif args.command == "eval":
        from rlvr.eval.run import run_eval

        metrics = run_eval(cfg, model=args.model, output=args.output, run_dir=args.run_dir)
        _print_metrics(metrics)
    return 0


def _is_embodied(recipe: str | None) -> bool:
    from rlvr.config import read_recipe
    from rlvr.embodied.config import is_embodied_recipe

    return recipe is not None and is_embodied_recipe(read_recipe(recipe))


def _train(cfg, args: argparse.Namespace, show: bool) -> int:
    """Exit codes: 0 done; 1 stopped on NaN/inf updates; 3 a Ray actor died beyond its restarts (after a
    checkpoint); 128 + signal number (130 SIGINT, 143 SIGTERM)
    when a signal stopped the run cleanly after writing a checkpoint."""
    from rlvr.training.checkpoint import ResumeError
    from rlvr.training.trainer import NonFiniteError, RLTrainer

    if args.resume or args.force_resume:
        update = {"resume": args.resume or cfg.trainer.resume, "resume_force": args.force_resume or None}
        cfg.trainer = cfg.trainer.model_copy(update={k: v for k, v in update.items() if v is not None})
    try:
        trainer = RLTrainer(cfg, show_progress=show)
    except ResumeError as exc:
        print(f"rlvr train: {exc}", file=sys.stderr)
        return 2
    resumed = f", resuming from {trainer.last_checkpoint} at step {trainer.step}" if trainer.step else ""
    print(f"rlvr train: run directory {trainer.run_dir}{resumed}")
    try:
        final = trainer.fit()
    except NonFiniteError as exc:
        print(f"rlvr train: {exc}", file=sys.stderr)
        return 1
    finally:
        trainer.close()
    if trainer.failed is not None:
        resume = f"rlvr train {args.recipe} --resume {trainer.run_dir}"
        print(
            f"rlvr train: {trainer.failed}\nrlvr train: checkpoint {trainer.last_checkpoint}; continue with: {resume}",
            file=sys.stderr,
        )
        return 3
    if trainer.stopped_by is not None:
        resume = f"rlvr train {args.recipe} --resume {trainer.run_dir}"
        print(f"rlvr train: stopped by {trainer.stopped_by.name}; continue with: {resume}")
        return 128 + int(trainer.stopped_by)
    _print_metrics(final)
    return 0


def _print_metrics(metrics: dict[str, float]) -> None:
    for key in sorted(metrics):
        print(f"  {key}: {metrics[key]:.4f}")


if __name__ == "__main__":
    sys.exit(main())
