"""``rlvr analyze confidence|reflection|truncation|summarise``: RaML's probes of reasoning traces.

Parsing and dispatch only; ``rlvr.cli`` adds the subcommand with :func:`add_parser` and calls :func:`main`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

KINDS = ("confidence", "reflection", "truncation", "summarise")


def add_parser(subparsers) -> None:
    """Add ``analyze`` and its four kinds to the ``rlvr`` subparsers."""
    a = subparsers.add_parser(
        "analyze", help="RaML's probes: answer confidence along traces, reflection, truncation"
    )
    kinds = a.add_subparsers(dest="kind", required=True)
    helps = {
        "confidence": "answer NLL after each prefix of each trace (one forward per trace), per-trace and averaged",
        "reflection": "reflection words: rate, position, accuracy with/without, NLL change across them",
        "truncation": "accuracy when the answer is forced after x%% of the trace",
        "summarise": "summarise each trace with a second model, answer from the summary, compare accuracy",
    }
    for kind in KINDS:
        p = kinds.add_parser(kind, help=helps[kind])
        p.add_argument(
            "recipe", help="YAML recipe: its model, data.eval (else data.train) and rollout settings"
        )
        p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. rollout.temperature=0.6")
        p.add_argument("--model", help="model directory or hub id (default: the recipe's model)")
        p.add_argument("--traces", type=int, default=4, help="traces sampled per problem (default 4)")
        p.add_argument(
            "--problems", type=int, default=32, help="problems used, the first of the data (default 32)"
        )
        p.add_argument(
            "--run-dir",
            help="read the traces a run logged (rollouts.jsonl or samples/rollouts.jsonl) instead of sampling; the "
            "model defaults to RUN_DIR/final and the output to RUN_DIR/analysis/, where `rlvr report` shows it",
        )
        p.add_argument(
            "--answer-prompt", help="appended before the gold answer (default: the task's, else RaML's)"
        )
        p.add_argument("--output", help="JSON results (default analysis-<kind>.json, or RUN_DIR/analysis/)")
        if kind in ("confidence", "reflection", "truncation"):
            p.add_argument(
                "--at",
                help="measure (truncation: cut) only at boundaries: sentence, paragraph, or a literal "
                "separator (e.g. ' ')",
            )
        if kind in ("confidence", "reflection"):
            p.add_argument("--every", type=int, default=1, help="measure every k trace tokens (default 1)")
            p.add_argument("--max-block-tokens", type=int, default=8192, help="appended tokens per forward")
        if kind == "reflection":
            p.add_argument("--words", help="comma-separated reflection words (default: RaML's ten)")
        if kind == "truncation":
            p.add_argument("--fractions", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1")
            p.add_argument(
                "--max-answer-tokens", type=int, default=32, help="tokens the forced answer may use"
            )
        if kind == "summarise":
            p.add_argument(
                "--summariser", required=True, help="model directory or hub id of the summarising model"
            )
            p.add_argument("--think-end", default="</think>", help="the end of the thinking part of a trace")
            p.add_argument("--summary-tokens", type=int, default=512)


def main(args: argparse.Namespace, show: bool = True) -> int:
    from rlvr.config import load_config

    cfg = load_config(args.recipe, args.overrides)
    if not args.model and args.run_dir and (Path(args.run_dir) / "final").is_dir():
        args.model = str(Path(args.run_dir) / "final")  # the run's own final model
    if args.model:
        cfg = cfg.model_copy(
            update={"model": cfg.model.model_copy(update={"path": args.model, "tiny": None})}
        )
    output = Path(args.output) if args.output else _default_output(args)
    output.parent.mkdir(parents=True, exist_ok=True)
    result = _run(cfg, args)
    output.write_text(json.dumps(result, indent=1))
    png = _plot(args.kind, result, output.with_suffix(".png"), label=args.model or cfg.name)
    print(f"rlvr analyze {args.kind}: {json.dumps(result.get('summary', {}), sort_keys=True)}")
    print(f"rlvr analyze {args.kind}: {output}" + (f", {png}" if png else ""))
    return 0


def _default_output(args: argparse.Namespace) -> Path:
    if args.run_dir:
        return Path(args.run_dir) / "analysis" / f"{args.kind}.json"
    return Path(f"analysis-{args.kind}.json")


def _run(cfg, args: argparse.Namespace) -> dict[str, Any]:
    from rlvr.data.specs import load_dataset_specs
    from rlvr.eval.analysis.traces import read_run_traces, sample_traces
    from rlvr.rewards.router import RewardRouter
    from rlvr.training.roles import RolloutRole

    specs = cfg.data.eval or cfg.data.train
    samples = load_dataset_specs(specs)[: args.problems]
    worker = RolloutRole(cfg)
    model = worker.model if worker.model is not None else _load_scorer(cfg, worker.tokenizer)
    model.eval()
    try:
        with RewardRouter(cfg.reward.workers, cfg.reward.timeout_s) as router:
            if args.run_dir:
                traces = read_run_traces(args.run_dir, samples, worker.tokenizer, args.problems * args.traces)
            else:
                traces = sample_traces(
                    worker.engine, samples, router, cfg.rollout.sampling_params(n=args.traces)
                )
            return _analyse(args, cfg, worker, model, traces, samples, router)
    finally:
        worker.close()


def _load_scorer(cfg, tokenizer):
    from rlvr.models.load import load_model

    return load_model(cfg.model, tokenizer)


def _analyse(args, cfg, worker, model, traces, samples, router) -> dict[str, Any]:
    tok = worker.tokenizer
    if args.kind == "truncation":
        from rlvr.eval.analysis.truncation import truncation_accuracy

        fractions = [float(x) for x in args.fractions.split(",")]
        res = truncation_accuracy(
            worker.engine,
            traces,
            samples,
            router,
            fractions,
            args.answer_prompt,
            args.max_answer_tokens,
            at=args.at,
        )
        res["summary"] = {"trace_accuracy": res["trace_accuracy"], "accuracy_at_0": res["accuracy"][0]}
        return res
    if args.kind == "summarise":
        from rlvr.eval.analysis.summarise import summarise_check

        return summarise_check(cfg, args, worker, traces, samples, router)
    from rlvr.eval.analysis.curves import confidence_report, trace_curve

    every = 1 if args.kind == "reflection" else args.every
    at = None if args.kind == "reflection" else args.at
    curves = [
        trace_curve(model, tok, t, args.answer_prompt, every, at, args.max_block_tokens) for t in traces
    ]
    if args.kind == "confidence":
        return confidence_report(curves)
    from rlvr.eval.analysis.reflection import (
        DEFAULT_WORDS,
        change_summary,
        reflection_counts,
        relative_changes,
        word_spans,
    )

    words = tuple(args.words.split(",")) if args.words else DEFAULT_WORDS
    texts = [[tok.decode([i]) for i in t.response_ids] for t in traces]
    counts = reflection_counts(texts, [t.correct for t in traces], words)
    all_tokens: list[float] = []
    all_words: dict[str, list[float]] = {}
    for c, tx in zip(curves, texts, strict=True):
        tk, wd = relative_changes(c.nll, word_spans(tx, words))
        all_tokens += tk
        for w, xs in wd.items():
            all_words.setdefault(w, []).extend(xs)
    changes = change_summary(all_tokens, all_words)
    summary = {k: counts[k] for k in ("traces", "per_1k_tokens", "accuracy_with", "accuracy_without")}
    summary.update(token_change=changes["token_mean"], word_change=changes["word_mean"])
    return {"summary": summary, "counts": counts, "nll_change": changes}


def _plot(kind: str, result: dict[str, Any], path: Path, label: str) -> Path | None:
    from rlvr.eval.analysis.plots import confidence_png, lines_png

    if kind == "confidence":
        path.write_bytes(confidence_png({label: result}))
    elif kind == "truncation":
        series = {"all traces": (result["fractions"], result["accuracy"])}
        path.write_bytes(
            lines_png(
                series, "Accuracy when the answer is forced early", "fraction of trace kept", "accuracy"
            )
        )
    elif kind == "reflection":
        hist = result["counts"]["position_histogram"]
        path.write_bytes(
            lines_png(
                {"reflection words": ([i / 10 + 0.05 for i in range(10)], hist)},
                "Where reflection words occur",
                "position in trace",
                "count",
            )
        )
    else:
        return None
    return path
