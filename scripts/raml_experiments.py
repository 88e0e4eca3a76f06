"""RaML's probes on models rlvr trains here: every experiment of docs/reproductions.md's RaML section.

    python scripts/raml_experiments.py --out runs/raml-exp [--scale cpu|full|smoke] [--jobs 3]

The task is 3-digit addition (``rlvr.data.addition``) with a chain of thought that adds the digits right to
left with their carries (``recipes/raml/tiny_addition.yaml``); the control answers directly
(``tiny_addition_direct.yaml``); ``tiny_addition_ondemand.yaml`` also teaches answering after any step.
Stages, each an ``rlvr`` command (printed as it runs, its output in ``--out/logs``):

1. SFT: the traced model (long and short), the control, the on-demand model;
2. GRPO from each (n=8); from the short SFT, rollout.n = 4, 8, 16 at an equal prompt budget with
   ``algorithm.num_update_samples_per_prompt=4`` (the same gradient budget); ``rlvr eval`` of each SFT model;
3. ``rlvr analyze confidence`` and ``truncation`` (at step boundaries and at every token) and
   ``reflection`` on each traced SFT and RL model.

Finished commands are skipped, so a rerun resumes. Writes ``summary.json`` (every figure) and the plots
in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TRACE, DIRECT = "recipes/raml/tiny_addition.yaml", "recipes/raml/tiny_addition_direct.yaml"
ONDEMAND = "recipes/raml/tiny_addition_ondemand.yaml"
SCALES = {
    "full": {
        "sft": 1500,
        "rl": 60,
        "sweep": 40,
        "eval": 200,
        "problems": 32,
        "traces": 4,
        "eval_every": 20,
        "prompts": 32,
        "sft_short": 400,
    },
    "cpu": {
        "sft": 600,
        "rl": 20,
        "sweep": 15,
        "eval": 100,
        "problems": 16,
        "traces": 4,
        "eval_every": 5,
        "prompts": 16,
        "sft_short": 300,
    },
    "smoke": {
        "sft": 4,
        "rl": 2,
        "sweep": 2,
        "eval": 8,
        "problems": 2,
        "traces": 2,
        "eval_every": 1,
        "prompts": 4,
        "sft_short": 2,
    },
}


def run_all(cmds: list[tuple[str, list[str]]], out: Path, jobs: int) -> dict[str, float]:
    """Run (name, argv) commands, ``jobs`` at a time; their output goes to out/logs/<name>.log."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    pending, running, seconds = [c for c in cmds if not done(c[1])], {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            name, argv = pending.pop(0)
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(argv)}", flush=True)
            log = (out / "logs" / f"{name}.log").open("w")
            running[name] = (subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), time.time())
        for name, (proc, t0) in list(running.items()):
            if proc.poll() is not None:
                seconds[name] = round(time.time() - t0, 1)
                status = "ok" if proc.returncode == 0 else f"FAILED rc={proc.returncode}"
                print(f"[{time.strftime('%H:%M:%S')}] {name}: {status} in {seconds[name]}s", flush=True)
                if proc.returncode:
                    print((out / "logs" / f"{name}.log").read_text()[-3000:], flush=True)
                del running[name]
        time.sleep(0.5)
    return seconds


def done(argv: list[str]) -> bool:
    """Whether a command's result is already there (the script resumes where an earlier run stopped)."""
    opts = dict(a.split("=", 1) for a in argv if "=" in a)
    if "--output" in opts:
        return Path(opts["--output"]).exists()
    run = Path(opts["trainer.output_dir"]) / opts["trainer.run_name"]
    return (run / ("sft" if "sft" in argv else "final")).is_dir()


def rlvr(*args: str) -> list[str]:
    return [sys.executable, "-m", "rlvr.cli", "--quiet", *args]


def final_eval(run: Path, key: str) -> dict[str, float]:
    """{step: eval accuracy} of a training run's metrics.jsonl."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if key in row:
            out[str(row["step"])] = row[key]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/raml-exp")
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--jobs", type=int, default=5)
    ap.add_argument("--summarise-only", action="store_true", help="only rebuild summary.json and the plots")
    args = ap.parse_args()
    s, out = SCALES[args.scale], Path(args.out)
    runs = out / "runs"
    (out / "analysis").mkdir(parents=True, exist_ok=True)
    if args.summarise_only:
        return summarise(out, runs, {}, 0.0, args.scale)
    common = [
        f"trainer.output_dir={runs}",
        f"data.eval.0.size={s['eval']}",
        f"trainer.eval_every={s['eval_every']}",
    ]
    t0, timing = time.time(), {}

    def sft(recipe: str, name: str, steps: int) -> tuple[str, list[str]]:
        return name, rlvr("sft", recipe, f"sft.steps={steps}", f"trainer.run_name={name}", *common)

    def rl(recipe: str, start: str, name: str, steps: int, *extra: str) -> tuple[str, list[str]]:
        model = runs / start / "sft"
        return name, rlvr(
            "train",
            recipe,
            f"model.path={model}",
            "model.tiny=null",
            f"trainer.steps={steps}",
            f"trainer.run_name={name}",
            f"trainer.prompts_per_step={s['prompts']}",
            *common,
            *extra,
        )

    # 1. SFT: the traced model (long and short) and the control.
    stage1 = [sft(TRACE, "sft-trace", s["sft"]), sft(DIRECT, "sft-direct", s["sft"])]
    stage1.append(sft(TRACE, "sft-trace-short", s["sft_short"]))
    stage1.append(sft(ONDEMAND, "sft-ondemand", s["sft"]))
    timing |= run_all(stage1, out, args.jobs)
    # 2. GRPO from each; the n sweep from the short SFT at an equal prompt budget, 4 updated samples a prompt.
    stage2 = [rl(TRACE, "sft-trace", "rl-trace", s["rl"]), rl(DIRECT, "sft-direct", "rl-direct", s["rl"])]
    stage2.append(rl(TRACE, "sft-trace-short", "rl-short", s["rl"]))
    stage2.append(rl(ONDEMAND, "sft-ondemand", "rl-ondemand", s["rl"]))
    stage2 += [
        rl(
            TRACE,
            "sft-trace-short",
            f"sweep-n{n}",
            s["sweep"],
            f"rollout.n={n}",
            "algorithm.num_update_samples_per_prompt=4",
        )
        for n in (4, 8, 16)
    ]
    for start, recipe in (
        ("sft-trace", TRACE),
        ("sft-direct", DIRECT),
        ("sft-trace-short", TRACE),
        ("sft-ondemand", ONDEMAND),
    ):
        evals = out / "analysis" / f"eval-{start}.json"
        stage2.append(
            (
                f"eval-{start}",
                rlvr("eval", recipe, f"--model={runs / start / 'sft'}", f"--output={evals}", *common),
            )
        )
    timing |= run_all(stage2, out, args.jobs)
    # 3. The probes on the traced SFT and RL models.
    models = {  # label: (model, recipe whose held-out problems and answer cue the probes use)
        "sft": (runs / "sft-trace" / "sft", TRACE),
        "rl": (runs / "rl-trace" / "final", TRACE),
        "sftshort": (runs / "sft-trace-short" / "sft", TRACE),
        "rlshort": (runs / "rl-short" / "final", TRACE),
        "sftod": (runs / "sft-ondemand" / "sft", ONDEMAND),
        "rlod": (runs / "rl-ondemand" / "final", ONDEMAND),
    }
    probe = [f"--problems={s['problems']}", f"--traces={s['traces']}"]
    stage3 = []
    for label, (model, recipe) in models.items():
        for kind, tag, extra in (
            ("confidence", "", ["--at= "]),  # after each step of the trace (the steps are space-separated)
            ("truncation", "", ["--at= "]),
            ("confidence", "tok", []),  # after every token, as the notebook does
            ("truncation", "tok", []),
            ("reflection", "", []),
        ):
            path = out / "analysis" / f"{kind}_{label}{tag}.json"
            argv = rlvr("analyze", kind, recipe, f"--model={model}", *probe, *extra, f"--output={path}")
            stage3.append((f"{kind}_{label}{tag}", argv))
    timing |= run_all(stage3, out, args.jobs)
    summarise(out, runs, timing, time.time() - t0, args.scale)


LABELS = {
    "sft": "SFT (long)",
    "rl": "SFT (long) + RL",
    "sftshort": "SFT (short)",
    "rlshort": "SFT (short) + RL",
    "sftod": "SFT (on demand)",
    "rlod": "SFT (on demand) + RL",
}


def summarise(out: Path, runs: Path, timing: dict[str, float], total_s: float, scale: str) -> None:
    from rlvr.eval.analysis.plots import confidence_png, lines_png

    acc = {}
    for run in sorted(p for p in runs.iterdir() if (p / "metrics.jsonl").exists()):
        src = "carry_addition_direct" if "direct" in run.name else "carry_addition"
        acc[run.name] = final_eval(run, f"eval/{src}/accuracy")
    files = {p.stem: json.loads(p.read_text()) for p in sorted((out / "analysis").glob("*.json"))}
    analysis = {k: v for k, v in files.items() if not k.startswith("eval-")}
    of = {
        kind: {k.split("_", 1)[1]: v for k, v in analysis.items() if k.startswith(kind)}
        for kind in ("confidence", "truncation", "reflection")
    }
    summary = {
        "scale": scale,
        "total_s": round(total_s, 1),
        "stage_s": timing,
        "sft_eval": {
            k: {m: x for m, x in v.items() if m.endswith("/accuracy")}
            for k, v in files.items()
            if k.startswith("eval-")
        },
        "eval_accuracy_by_step": acc,
        "analysis": {k: v.get("summary") for k, v in analysis.items()},
        "confidence_average": {k: v["average"] for k, v in of["confidence"].items()},
        "truncation": {
            k: {"fractions": v["fractions"], "accuracy": v["accuracy"]} for k, v in of["truncation"].items()
        },
        "reflection": {k: v.get("nll_change") for k, v in of["reflection"].items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    conf = of["confidence"]
    for name, pair in (
        ("confidence_sft_vs_rl", ("sftshort", "rlshort")),
        ("confidence_long", ("sft", "rl")),
        ("confidence_tokens_sft_vs_rl", ("sftshorttok", "rlshorttok")),
        ("confidence_ondemand_sft_vs_rl", ("sftod", "rlod")),
    ):
        reps = {LABELS[k.removesuffix("tok")]: conf[k] for k in pair if k in conf}
        if reps:
            (out / f"{name}.png").write_bytes(
                confidence_png(reps, "Answer NLL along the trace: " + " vs ".join(reps))
            )
    for k, v in conf.items():
        (out / f"confidence_{k}.png").write_bytes(
            confidence_png({k: v}, f"Answer NLL along the trace: {LABELS.get(k, k)}")
        )
    trunc = {
        LABELS.get(k.removesuffix("tok"), k)
        + (" (any token)" if k.endswith("tok") else " (step boundary)"): (
            v["fractions"],
            v["accuracy"],
        )
        for k, v in of["truncation"].items()
    }
    if trunc:
        (out / "truncation.png").write_bytes(
            lines_png(
                trunc, "Accuracy when the answer is forced early", "fraction of the trace kept", "accuracy"
            )
        )
    sweep = {
        f"n={n}": ([int(k) for k in acc[f"sweep-n{n}"]], list(acc[f"sweep-n{n}"].values()))
        for n in (4, 8, 16)
        if acc.get(f"sweep-n{n}")
    }
    if sweep:
        (out / "n_sweep.png").write_bytes(
            lines_png(
                sweep, "rollout.n at an equal prompt budget (4 updated / prompt)", "step", "held-out accuracy"
            )
        )
    print(
        json.dumps(
            {k: summary[k] for k in ("total_s", "sft_eval", "eval_accuracy_by_step", "analysis")}, indent=1
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
