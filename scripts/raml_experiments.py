"""RaML's probes on models rlvr trains here: every experiment of docs/reproductions.md's RaML section.

    python scripts/raml_experiments.py --out runs/raml-exp [--scale full|smoke] [--jobs 5]

The task is 4-digit addition (``rlvr.data.addition``): with a chain of thought that adds the digits right
to left with their carries (``recipes/raml/tiny_addition.yaml``), and the control answering directly
(``recipes/raml/tiny_addition_direct.yaml``). Stages, each an ``rlvr`` command (printed as it runs):

1. SFT of the traced and the direct model (the control), side by side;
2. GRPO from each SFT model (n=8); and, from the traced SFT model, rollout.n = 4, 8, 16 at an equal
   prompt budget with ``algorithm.num_update_samples_per_prompt=4`` (the same gradient budget);
3. ``rlvr analyze confidence`` and ``truncation`` on the traced SFT and RL models (and ``reflection``).

Writes ``summary.json`` (every figure), the plots (``confidence_sft_vs_rl.png``, ``truncation.png``,
``n_sweep.png``) and ``log.txt`` in ``--out``; stages run ``--jobs`` at a time.
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
    if args.summarise_only:
        return summarise(out, runs, {}, 0.0, args.scale)
    common = [
        f"trainer.output_dir={runs}",
        f"data.eval.0.size={s['eval']}",
        f"trainer.eval_every={s['eval_every']}",
    ]
    t0 = time.time()
    timing = {}
    # 1. SFT: the traced model and the control.
    timing |= run_all(
        [
            ("sft_trace", rlvr("sft", TRACE, f"sft.steps={s['sft']}", "trainer.run_name=sft-trace", *common)),
            (
                "sft_direct",
                rlvr("sft", DIRECT, f"sft.steps={s['sft']}", "trainer.run_name=sft-direct", *common),
            ),
        ],
        out,
        args.jobs,
    )
    sft_trace, sft_direct = runs / "sft-trace" / "sft", runs / "sft-direct" / "sft"

    # 2. GRPO from each; the n sweep at an equal prompt budget, 4 updated samples per prompt.
    def rl(recipe: str, sft: Path, name: str, steps: int, *extra: str) -> tuple[str, list[str]]:
        return name, rlvr(
            "train",
            recipe,
            f"model.path={sft}",
            "model.tiny=null",
            f"trainer.steps={steps}",
            f"trainer.run_name={name}",
            f"trainer.prompts_per_step={s['prompts']}",
            *common,
            *extra,
        )

    stage2 = [rl(TRACE, sft_trace, "rl-trace", s["rl"]), rl(DIRECT, sft_direct, "rl-direct", s["rl"])]
    stage2 += [
        rl(
            TRACE,
            sft_trace,
            f"sweep-n{n}",
            s["sweep"],
            f"rollout.n={n}",
            "algorithm.num_update_samples_per_prompt=4",
        )
        for n in (4, 8, 16)
    ]
    for name, sft, recipe in (("eval-sft-trace", sft_trace, TRACE), ("eval-sft-direct", sft_direct, DIRECT)):
        evals = out / "analysis" / f"{name}.json"
        stage2.append((name, rlvr("eval", recipe, f"--model={sft}", f"--output={evals}", *common)))
    timing |= run_all(stage2, out, args.jobs)
    # 3. The probes on the traced SFT and RL models.
    models = {"sft": sft_trace, "rl": runs / "rl-trace" / "final"}
    probe = [f"--problems={s['problems']}", f"--traces={s['traces']}"]
    stage3 = []
    for label, model in models.items():
        for kind in ("confidence", "truncation", "reflection"):
            stage3.append(
                (
                    f"{kind}_{label}",
                    rlvr(
                        "analyze",
                        kind,
                        TRACE,
                        f"--model={model}",
                        *probe,
                        f"--output={out / 'analysis' / f'{kind}_{label}.json'}",
                    ),
                )
            )
    timing |= run_all(stage3, out, args.jobs)
    summarise(out, runs, timing, time.time() - t0, args.scale)


def summarise(out: Path, runs: Path, timing: dict[str, float], total_s: float, scale: str) -> None:
    from rlvr.eval.analysis.plots import confidence_png, lines_png

    acc = {
        name: final_eval(runs / name, f"eval/{src}/accuracy")
        for name, src in [
            ("rl-trace", "carry_addition"),
            ("rl-direct", "carry_addition_direct"),
            ("sweep-n4", "carry_addition"),
            ("sweep-n8", "carry_addition"),
            ("sweep-n16", "carry_addition"),
        ]
        if (runs / name / "metrics.jsonl").exists()
    }
    files = {p.stem: json.loads(p.read_text()) for p in sorted((out / "analysis").glob("*.json"))}
    analysis = {k: v for k, v in files.items() if not k.startswith("eval-")}
    sft_eval = {k: v for k, v in files.items() if k.startswith("eval-")}
    summary = {
        "scale": scale,
        "total_s": round(total_s, 1),
        "stage_s": timing,
        "eval_accuracy_by_step": acc,
        "sft_eval": {k: {m: x for m, x in v.items() if m.endswith("/accuracy")} for k, v in sft_eval.items()},
        "analysis": {k: v.get("summary") for k, v in analysis.items()},
        "confidence_average": {k: v["average"] for k, v in analysis.items() if k.startswith("confidence")},
        "truncation": {
            k: {"fractions": v["fractions"], "accuracy": v["accuracy"]}
            for k, v in analysis.items()
            if k.startswith("truncation")
        },
        "reflection": {k: v.get("nll_change") for k, v in analysis.items() if k.startswith("reflection")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    reps = {f"{k.split('_')[1].upper()} model": v for k, v in analysis.items() if k.startswith("confidence")}
    if reps:
        (out / "confidence_sft_vs_rl.png").write_bytes(
            confidence_png(reps, "Answer NLL along the trace: SFT vs RL")
        )
        for k, v in analysis.items():
            if k.startswith("confidence"):
                (out / f"{k}.png").write_bytes(
                    confidence_png({k: v}, f"Answer NLL along the trace ({k.split('_')[1].upper()})")
                )
    trunc = {
        k.split("_")[1].upper(): (v["fractions"], v["accuracy"])
        for k, v in analysis.items()
        if k.startswith("truncation")
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
