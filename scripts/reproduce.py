"""Tiny-scale reproductions of DAPO, ProRL and Spurious Rewards claims (written up in docs/reproductions.md).

    python scripts/reproduce.py --out /tmp/rlvr-repro                # everything: ~25 min on 2 cores
    python scripts/reproduce.py --out /tmp/rlvr-repro --table        # only print the tables again

Every run starts from one SFT checkpoint of the quickstart (``rlvr sft recipes/quickstart.yaml``) and trains
on digit_sort with the ``rlvr`` command line: 32 prompts x 8 samples a step, 4 mini-batches of 64 per step
(so the importance ratio leaves 1 and the clip acts), 40 steps in every arm, lr 3e-4 unless noted.

  (a) grpo, grpo_ds, dapo   GRPO (the quickstart: clip-higher 0.28, token-mean) with dynamic sampling off /
                            on, and the whole tiny DAPO twin (recipes/tiny/dapo.yaml: + soft overlong penalty)
  (b) grpo vs grpo_sym      eps_high 0.28 (clip-higher) vs 0.2 (symmetric): policy entropy over training;
                            again with 4 PPO epochs per batch (grpo_e4, grpo_sym_e4), where the clip bites more
  (c) random_*              recipes/tiny/spurious_random.yaml (Bernoulli(0.5) reward), clip on / off, at
                            lr 3e-4 and 3e-5, with the clipping-bias diagnostics
  (c') ground_truth, majority, incorrect, format   the other tiny Spurious Rewards twins (the labels of
                            majority / incorrect from ``rlvr pseudo-label``, 16 samples of the SFT model)
  (d) pass@1 / pass@8 / pass@64 at temperature 1 of the SFT model and of the RL models (``rlvr eval``)
  and a smoke run of the tiny ProRL twin (recipes/tiny/prorl.yaml, its own SFT warm start, one seed)

Runs already finished (their ``final/`` exists) are skipped, so an interrupted reproduction continues where
it stopped. Run directories, logs and eval JSON files go under ``--out`` (keep it out of the repository).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = "recipes/quickstart.yaml"
RANDOM = "recipes/tiny/spurious_random.yaml"
DAPO = "recipes/tiny/dapo.yaml"
PRORL = "recipes/tiny/prorl.yaml"
SPURIOUS = "recipes/tiny/spurious_{}.yaml"
N = 8  # samples per prompt (the quickstart's rollout.n)

ARMS: dict[str, tuple[str, list[str]]] = {
    "grpo": (QUICKSTART, []),
    "grpo_ds": (
        QUICKSTART,
        ["filters.dynamic_sampling=true", "filters.oversample=1.5", "filters.max_rounds=4"],
    ),
    "dapo": (DAPO, []),
    "grpo_sym": (QUICKSTART, ["algorithm.eps_high=0.2"]),
    "grpo_e4": (QUICKSTART, ["trainer.ppo_epochs=4"]),
    "grpo_sym_e4": (QUICKSTART, ["trainer.ppo_epochs=4", "algorithm.eps_high=0.2"]),
    "random_clip": (RANDOM, []),
    "random_noclip": (RANDOM, ["algorithm.clip=false"]),
    "random_clip_lr3e-5": (RANDOM, ["optim.lr=3e-5"]),
    "random_noclip_lr3e-5": (RANDOM, ["algorithm.clip=false", "optim.lr=3e-5"]),
    "ground_truth": (SPURIOUS.format("ground_truth"), []),
    "majority": (SPURIOUS.format("majority"), ["data.train.0.path={out}/labels/majority.jsonl"]),
    "incorrect": (SPURIOUS.format("incorrect"), ["data.train.0.path={out}/labels/incorrect.jsonl"]),
    "format": (SPURIOUS.format("format"), []),
}
PASSK_MODELS = ("grpo", "grpo_ds", "dapo", "random_clip")  # evaluated with pass@k after training

# (title, arms, rows): rows are (label, summary key, as a percentage)
ACCURACY = [
    ("held-out accuracy (greedy), final", "final_acc", True),
    ("train reward, first 10 steps", "reward_first10", True),
    ("train reward, last 10 steps", "reward_last10", True),
    ("train accuracy (true answer), last 10 steps", "acc_last10", True),
]
CLIPPING = [
    ("clip_frac_low", "clip_frac_low", True),
    ("clip_frac_high", "clip_frac_high", True),
    ("clip_frac_high, p_old > 0.8", "clip_frac_high_highprob", True),
    ("clip_frac_high, p_old <= 0.8", "clip_frac_high_lowprob", True),
    ("clip_frac_low, p_old > 0.8", "clip_frac_low_highprob", True),
    ("clip_frac_low, p_old <= 0.8", "clip_frac_low_lowprob", True),
]
ENTROPY = [
    ("entropy, first 5 steps", "entropy_first5", False),
    ("entropy, last 5 steps", "entropy_last5", False),
]
EXPERIMENTS = [
    (
        "(a) dynamic sampling",
        ["grpo", "grpo_ds", "dapo"],
        [
            *ACCURACY,
            ("generated samples", "samples", False),
            ("generation rounds per step", "rounds", False),
            ("minutes (sum of step times)", "minutes", False),
        ],
    ),
    (
        "(b) clip-higher and entropy",
        ["grpo", "grpo_sym", "grpo_e4", "grpo_sym_e4"],
        [*ENTROPY, *ACCURACY[:1], *CLIPPING],
    ),
    (
        "(c') every Spurious Rewards reward (tiny twins; random = random_clip)",
        ["ground_truth", "majority", "incorrect", "format", "random_clip"],
        [*ACCURACY, *ENTROPY, ("response length, last 5 steps", "length_last5", False)],
    ),
    (
        "(c) random reward, clipping on / off",
        ["random_clip", "random_noclip", "random_clip_lr3e-5", "random_noclip_lr3e-5"],
        [
            *ACCURACY,
            *ENTROPY,
            ("tokens with p_old > 0.8, first 5 steps", "highprob_first5", True),
            ("tokens with p_old > 0.8, last 5 steps", "highprob_last5", True),
            ("response length, last 5 steps", "length_last5", False),
            *CLIPPING,
        ],
    ),
]


def rlvr(*args: str, log: Path) -> None:
    """Run ``rlvr --quiet ARGS`` from the repository root, its output in ``log``; raise if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log.open("w") as f:
        rc = subprocess.call(["rlvr", "--quiet", *args], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    print(
        f"  [{time.perf_counter() - t0:5.0f} s] rlvr {' '.join(args[:2])} ... -> {log} (exit {rc})",
        flush=True,
    )
    if rc != 0:
        raise RuntimeError(f"rlvr {' '.join(args)} failed with exit code {rc}; see {log}")


def sft(out: Path) -> Path:
    model = out / "sft" / "sft"
    if not (model / "config.json").exists():
        rlvr("sft", QUICKSTART, f"trainer.output_dir={out}", "trainer.run_name=sft", log=out / "logs/sft.log")
    return model


def train(out: Path, sft_model: Path, arm: str, seed: int, steps: int) -> None:
    name = f"{arm}-s{seed}"
    if (out / name / "final").exists():
        return
    recipe, extra = ARMS[arm]
    overrides = [
        f"model.path={sft_model}",
        "model.tiny=null",
        "model.num_threads=1",
        f"trainer.output_dir={out}",
        f"trainer.run_name={name}",
        f"trainer.seed={seed}",
        f"trainer.steps={steps}",
        "trainer.prompts_per_step=32",
        "trainer.mini_batch_size=64",
        "trainer.micro_batch_size=512",
        "trainer.eval_every=10",
        "trainer.skip_zero_advantage=false",  # entropy and clip fractions over every row, as the papers count
        "monitor.log_samples_every=0",
        *(e.format(out=out) for e in extra),
    ]
    rlvr("train", recipe, *overrides, log=out / "logs" / f"{name}.log")


def labels(out: Path, sft_model: Path, mode: str) -> None:
    """Pseudo-labels of 1,024 training questions from 16 samples of the SFT model (Spurious Rewards)."""
    path = out / "labels" / f"{mode}.jsonl"
    if not path.exists():
        recipe = SPURIOUS.format("ground_truth")
        start = [f"model.path={sft_model}", "model.tiny=null", "data.train.0.size=1024"]
        args = ["--k", "16", "--mode", mode, "--output", str(path)]
        rlvr("pseudo-label", recipe, *start, *args, log=out / "logs" / f"labels-{mode}.log")


def passk(out: Path, name: str, model: Path, problems: int) -> None:
    """pass@1/8/64 at temperature 1 on the first ``problems`` held-out problems -> evals/passk-NAME.json."""
    overrides = ["eval.n=64", "eval.temperature=1.0", "eval.k=[1,8,64]", f"data.eval.0.size={problems}"]
    evaluate(out, f"passk-{name}", model, overrides)


def evaluate(out: Path, name: str, model: Path, overrides: list[str], recipe: str = QUICKSTART) -> None:
    result = out / "evals" / f"{name}.json"
    if result.exists():
        return
    result.parent.mkdir(parents=True, exist_ok=True)
    args = ["--model", str(model), "--output", str(result), "model.num_threads=1", *overrides]
    rlvr("eval", recipe, *args, log=out / "logs" / f"eval-{name}.log")


def prorl_twin(out: Path) -> None:
    """The tiny ProRL twin, one seed: its own SFT warm start (6- and 4-digit sorting), then 30 RL steps."""
    model = out / "prorl_twin_sft" / "sft"
    if not (model / "config.json").exists():
        args = [f"trainer.output_dir={out}", "trainer.run_name=prorl_twin_sft"]
        rlvr("sft", PRORL, *args, log=out / "logs" / "prorl_twin_sft.log")
    evaluate(out, "greedy-prorl_twin_sft", model, [], recipe=PRORL)
    if not (out / "prorl_twin-s0" / "final").exists():
        args = [
            f"model.path={model}",
            "model.tiny=null",
            f"trainer.output_dir={out}",
            "trainer.run_name=prorl_twin-s0",
        ]
        rlvr("train", PRORL, *args, log=out / "logs" / "prorl_twin-s0.log")


# ---- tables ---------------------------------------------------------------------------------------


def read_metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def summary(rows: list[dict]) -> dict[str, float]:
    """Per-run numbers: final held-out accuracy, eval curve, rewards, entropy, clip fractions, cost."""
    steps = [r for r in rows if "perf/step_s" in r]
    evals = {r["step"]: r["eval/all/accuracy"] for r in rows if "eval/all/accuracy" in r}

    def series(key: str) -> list[float]:
        return [r[key] for r in steps if key in r]

    def first_last(key: str, k: int = 5) -> tuple[float, float]:
        s = series(key)
        return _mean(s[:k]), _mean(s[-k:])

    out = {
        "final_acc": evals[max(evals)] if evals else float("nan"),
        "samples": sum(r.get("rollout/prompts_sampled", 0.0) for r in steps) * N,
        "minutes": sum(series("perf/step_s")) / 60,
        "reward_first10": _mean(series("reward/all/reward_mean")[:10]),
        "reward_last10": _mean(series("reward/all/reward_mean")[-10:]),
        "acc_last10": _mean(series("reward/all/accuracy")[-10:]),
        "rounds": _mean(series("rollout/rounds")),
        "kept_frac": _mean(
            [
                r["rollout/groups_kept"] / r["rollout/prompts_sampled"]
                for r in steps
                if "rollout/groups_kept" in r
            ]
        ),
    }
    out["entropy_first5"], out["entropy_last5"] = first_last("train/entropy")
    out["highprob_first5"], out["highprob_last5"] = first_last("train/token_frac_highprob")
    out["length_last5"] = first_last("reward/all/response_length")[1]
    for key in (
        "clip_frac_low",
        "clip_frac_high",
        "clip_frac_low_highprob",
        "clip_frac_high_highprob",
        "clip_frac_low_lowprob",
        "clip_frac_high_lowprob",
        "token_frac_highprob",
        "ratio_max",
    ):
        out[key] = _mean(series(f"train/{key}"))
    for step, acc in evals.items():
        out[f"eval@{step}"] = acc
        window = [r["train/entropy"] for r in steps if step - 5 < r["step"] <= step and "train/entropy" in r]
        out[f"entropy@{step}"] = _mean(window)
    # cumulative generated samples at each eval step
    total = 0.0
    for r in steps:
        total += r.get("rollout/prompts_sampled", 0.0) * N
        if r["step"] in evals:
            out[f"samples@{r['step']}"] = total
    return out


def fmt(values: list[float], pct: bool = True) -> str:
    """mean (and each seed) of a list of per-seed values."""
    vals = [v for v in values if v == v]
    if not vals:
        return "n/a"
    f = (lambda v: f"{100 * v:.1f}") if pct else (lambda v: f"{v:.3g}")
    each = "/".join(f(v) for v in vals)
    return f"{f(statistics.mean(vals))} ({each})" if len(vals) > 1 else f(vals[0])


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def print_tables(out: Path, seeds: list[int]) -> None:
    runs = {
        arm: [summary(read_metrics(out / f"{arm}-s{s}")) for s in seeds if (out / f"{arm}-s{s}").exists()]
        for arm in ARMS
    }
    print(f"seeds {seeds}; percentages unless noted; cells: mean over seeds (each seed)")
    for title, arms, rows in EXPERIMENTS:
        arms = [a for a in arms if runs[a]]
        if not arms:
            continue
        print(f"\n{title}\n")
        table(
            ["metric", *arms],
            [[label, *(fmt([r[key] for r in runs[a]], pct) for a in arms)] for label, key, pct in rows],
        )
        steps = sorted(
            {int(k.split("@")[1]) for a in arms for r in runs[a] for k in r if k.startswith("eval@")}
        )
        print(
            f"\n{title}: held-out accuracy (greedy, 300 problems) by step [generated samples so far, seed {seeds[0]}]\n"
        )
        body = []
        for st in steps:
            cells = []
            for a in arms:
                samples = runs[a][0].get(f"samples@{st}")
                acc = fmt([r.get(f"eval@{st}", float("nan")) for r in runs[a]])
                cells.append(f"{acc} [{samples:.0f}]" if samples else acc)
            body.append([str(st), *cells])
        table(["step", *arms], body)
        print(f"\n{title}: policy entropy (train/entropy, mean of the 5 steps up to each step)\n")
        body = [
            [
                str(st),
                *(fmt([r.get(f"entropy@{st}", float("nan")) for r in runs[a]], pct=False) for a in arms),
            ]
            for st in steps
        ]
        table(["step", *arms], body)

    keys = ("accuracy", "pass@1", "pass@8", "pass@64", "maj@64")
    body = []
    for arm in ("sft", *PASSK_MODELS):
        names = ["sft"] if arm == "sft" else [f"{arm}-s{s}" for s in seeds]
        found = [out / "evals" / f"passk-{n}.json" for n in names]
        results = [json.loads(p.read_text()) for p in found if p.exists()]
        if results:
            body.append([arm, *(fmt([m[f"eval/all/{k}"] for m in results]) for k in keys)])
    if body:
        print(
            "\n(d) pass@k at temperature 1.0, n = 64 samples per problem (unbiased estimator), 100 problems\n"
        )
        table(["model", "avg@64", "pass@1", "pass@8", "pass@64", "maj@64"], body)
    print_prorl_twin(out)
    greedy = out / "evals" / "greedy-sft.json"
    if greedy.exists():
        acc = json.loads(greedy.read_text())["eval/all/accuracy"]
        print(f"\nSFT start model, held-out accuracy (greedy, 300 problems): {100 * acc:.1f}")


def print_prorl_twin(out: Path) -> None:
    rows = read_metrics(out / "prorl_twin-s0")
    start = out / "evals" / "greedy-prorl_twin_sft.json"
    if not rows or not start.exists():
        return
    evals = [r for r in rows if "eval/all/accuracy" in r]
    sources = sorted(
        k.split("/")[1] for k in evals[-1] if k.endswith("/accuracy") and k != "eval/all/accuracy"
    )
    print("\nProRL twin (seed 0): held-out accuracy (greedy) per source; reference resets\n")
    first = json.loads(start.read_text())
    body = [["0 (SFT)", *(f"{100 * first[f'eval/{s}/accuracy']:.1f}" for s in [*sources, "all"])]]
    body += [
        [str(r["step"]), *(f"{100 * r[f'eval/{s}/accuracy']:.1f}" for s in [*sources, "all"])] for r in evals
    ]
    table(["step", *sources, "all"], body)
    resets = [r["step"] for r in rows if r.get("train/reference_reset")]
    print(f"\nreference resets at steps {resets}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/rlvr-repro", help="directory for runs, logs and evals")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--jobs", type=int, default=3, help="runs at once (each uses one CPU thread)")
    p.add_argument("--passk-problems", type=int, default=100, help="held-out problems in the pass@k evals")
    p.add_argument("--table", action="store_true", help="only print the tables of what is there")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    if not args.table:
        t0 = time.perf_counter()
        sft_model = sft(out)
        for mode in ("majority", "incorrect"):
            if mode in args.arms:
                labels(out, sft_model, mode)
        jobs = [(arm, seed) for seed in args.seeds for arm in args.arms]
        with ThreadPoolExecutor(args.jobs) as pool:
            evals = [
                pool.submit(passk, out, "sft", sft_model, args.passk_problems),
                pool.submit(evaluate, out, "greedy-sft", sft_model, []),
            ]
            runs = [pool.submit(train, out, sft_model, arm, seed, args.steps) for arm, seed in jobs]
            runs.append(pool.submit(prorl_twin, out))
            for f in runs:
                f.result()
            for arm in PASSK_MODELS:
                for seed in args.seeds if arm in args.arms else []:
                    model = out / f"{arm}-s{seed}" / "final"
                    evals.append(pool.submit(passk, out, f"{arm}-s{seed}", model, args.passk_problems))
            for f in evals:
                f.result()
        print(f"reproduction done in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    print_tables(out, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
