"""rlvr vs TRL's GRPOTrainer at real model shapes on the CPU: s/step, tokens/s and peak resident memory.

    python benchmarks/vs_trl_shapes.py                                   # all four shapes, small batches
    python benchmarks/vs_trl_shapes.py --shapes llama-30m --steps 4 --prompts 8 --n 8
    python benchmarks/vs_trl_shapes.py --shapes smollm-135m --fixed-length --rounds 2 --dtype bfloat16
    python benchmarks/vs_trl_shapes.py --pool a.json b.json --output ab.json   # two runs' steps, one table

``--dtype`` (float32 by default) is both trainers' parameter dtype, pure: the same model object built in
it, gradients and AdamW moments in it, no autocast on either side (rlvr's ``model.dtype: bfloat16``;
TRL's GRPOConfig ``bf16=False``, which on the CPU would otherwise turn on autocast). On a CPU with AMX
bfloat16 matmuls are 2-3x faster than float32 ones.

Shapes (random initialisation from a config; no download): the quickstart's tiny Llama (hidden 128, 3
layers, a 100-id vocabulary), a ~30M Llama (hidden 512, 8 layers, 8,192 ids), SmolLM-135M's shape
(hidden 576, 30 layers, 9 heads / 3 KV heads, 49,152 ids) and Qwen2.5-0.5B's (896, 24 layers, 151,936
ids). Prompts are random ids of --prompt-len lengths (left-padded); completions end at EOS, whose logit
gets a bias (a frozen bias of the LM head) so that a random model stops after ~max_new_tokens / 3
tokens on average: lengths vary within each group, from 1 to --max-new-tokens. The reward is a coin
flip (throughput only; it does not depend on correctness).

Each trainer runs in its own subprocess (1 torch thread: on a shared, oversubscribed 2-core machine two
OpenMP threads ran a tiny model 10-50x slower), so its peak resident memory is its own: ``ru_maxrss`` of
that process (Python, torch, the model, AdamW and the step's activations). By default (``--alternate
step``) the two processes start together and take their timed steps in turn, one running at a time, so
that step i of each sees about the same machine; the table then also gives the median of the steps'
paired ratios. The loop, timing and matched settings are ``benchmarks/gpu_grpo.py``'s (one optimizer
step a batch, token mean, clip 0.2 / 0.28, no KL, micro-batch = the whole batch). Step 1 is warm-up (the
two processes run it at once); s/step is the median of steps 2..N. TRL's fused LM head computes its
learner log-probs from ``lm_head.weight`` directly, so the EOS bias is in its sampling but not in its
learner's log-probs: this changes what its loss sees, not the work.

On a shared 2-core machine the seconds are noisy (other processes take cores, and the machine's speed
drifts within minutes); read the ratios of one run, and the memory, which is not.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import gpu_grpo  # noqa: E402

SHAPES = {
    "tiny": dict(
        arch="llama", hidden_size=128, intermediate_size=384, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=100,
    ),
    "llama-30m": dict(
        arch="llama", hidden_size=512, intermediate_size=1376, num_hidden_layers=8, num_attention_heads=8,
        num_key_value_heads=8, vocab_size=8192,
    ),
    "smollm-135m": dict(
        arch="llama", hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, vocab_size=49152,
    ),
    "qwen2.5-0.5b": gpu_grpo.SHAPES["qwen2.5-0.5b"],
}  # fmt: skip
THREADS = 1
NO_EOS = -1e4  # added to the EOS logit under --fixed-length: exp(-1e4) is 0 in float32


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    gpu_grpo.add_workload_args(p, steps=3, prompts=4, n=4, max_new_tokens=128, prompt_len=(8, 64))
    add_length_arg(p)
    p.add_argument(
        "--rounds", type=int, default=1,
        help="run both trainers this many times each and pool the timed steps",
    )  # fmt: skip
    p.add_argument(
        "--alternate", choices=["step", "round"], default="step",
        help="step: both trainers' processes start together and take their timed steps in turn (rlvr's step "
        "2, TRL's step 2, TRL's step 3, rlvr's step 3...), one running at a time, so each pair of steps sees "
        "about the same machine; round: rlvr's whole run, then TRL's (the table's runs before 2026-12-02)",
    )  # fmt: skip
    p.add_argument("--output", default=None)
    p.add_argument(
        "--pool", nargs="+", default=None, metavar="JSON",
        help="run nothing: pool the rounds of earlier --output files of the same settings into one table",
    )  # fmt: skip
    p.add_argument("--child", choices=["rlvr", "trl"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--lockstep", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--shape", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.micro = args.prompts * args.n
    args.engines, args.device, args.peak_tflops = ["hf"], "cpu", 1.0
    return args


def add_length_arg(p: argparse.ArgumentParser) -> None:
    """``--fixed-length``, shared with profile_shapes.py."""
    p.add_argument(
        "--fixed-length", action="store_true",
        help="EOS is never sampled (its logit gets -1e4 on both sides): every completion is --max-new-tokens "
        "long, so both trainers do the same work",
    )  # fmt: skip


def dtype_name(args: argparse.Namespace) -> str:
    """The parameter dtype of a CPU run (``--dtype``, float32 by default)."""
    return args.dtype or "float32"


def eos_bias(vocab: int, max_new_tokens: int, fixed_length: bool = False) -> float:
    """The EOS logit bias that makes EOS ~3 / max_new_tokens likely a token under near-uniform logits;
    with ``fixed_length`` a bias that makes it never sampled (every completion is max_new_tokens long)."""
    return NO_EOS if fixed_length else math.log(3 / max_new_tokens * vocab)


STEP_DONE = "lockstep: step done"


def lockstep_hook(steps: int) -> Callable[[], None]:
    """A child's step hook under ``--alternate step``: after each step but the last, say so on stdout and
    wait for the parent's go (a line on stdin), so that the two trainers' steps run one at a time."""
    done = 0

    def hook() -> None:
        nonlocal done
        done += 1
        if done < steps:
            print(STEP_DONE, flush=True)
            sys.stdin.readline()

    return hook


def child(args: argparse.Namespace) -> dict:
    torch.set_num_threads(THREADS)
    if args.lockstep:
        args.step_hook = lockstep_hook(args.steps)
    gpu_grpo.SHAPES.update(SHAPES)
    args.eos_bias = eos_bias(SHAPES[args.shape]["vocab_size"], args.max_new_tokens, args.fixed_length)
    load_before = os.getloadavg()[0]
    device = torch.device("cpu")
    if args.child == "rlvr":
        result = gpu_grpo.run_rlvr("hf", args.shape, args, device)
    else:
        with tempfile.TemporaryDirectory(prefix="vs-trl-shapes-") as tmp:
            result = gpu_grpo.run_trl(args.shape, args, device, Path(tmp))
    timed = result.steps[1:] or result.steps
    gen_s, upd_s = sum(s.gen_s for s in timed), sum(s.update_s for s in timed)
    return {
        "trainer": args.child,
        "shape": args.shape,
        "dtype": dtype_name(args),
        "param_dtypes_after": result.param_dtypes,
        "params_M": round(result.params / 1e6, 1),
        "s_per_step": round(statistics.median(s.gen_s + s.update_s + s.other_s for s in timed), 2),
        "gen_tokens_per_s": round(sum(s.gen_tokens for s in timed) / gen_s, 1),
        "learner_tokens_per_s": round(sum(s.learner_tokens for s in timed) / upd_s, 1),
        "mean_completion_tokens": round(
            sum(s.gen_tokens for s in timed) / len(timed) / (args.prompts * args.n), 1
        ),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "cpu_s_per_step": round(statistics.median(s.step_cpu_s for s in timed), 2),
        "gen_cpu_s": [round(s.gen_cpu_s, 3) for s in timed],
        "step_cpu_s": [round(s.step_cpu_s, 3) for s in timed],
        "step_s": [round(s.gen_s + s.update_s + s.other_s, 3) for s in timed],
        "gen_s": [round(s.gen_s, 3) for s in timed],
        "update_s": [round(s.update_s + s.other_s, 3) for s in timed],
        "gen_tokens": [s.gen_tokens for s in timed],
        "learner_tokens": [s.learner_tokens for s in timed],
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "lockstep": args.lockstep,
    }


def child_command(args: argparse.Namespace, trainer: str, shape: str) -> list[str]:
    cmd = [sys.executable, __file__, "--child", trainer, "--shape", shape, "--steps", str(args.steps)]
    cmd += ["--prompts", str(args.prompts), "--n", str(args.n), "--max-new-tokens", str(args.max_new_tokens)]
    cmd += ["--prompt-len", *map(str, args.prompt_len)]
    cmd += ["--fixed-length"] if args.fixed_length else []
    cmd += ["--dtype", args.dtype] if args.dtype else []
    return cmd


CHILD_ENV = {"OMP_NUM_THREADS": str(THREADS), "TOKENIZERS_PARALLELISM": "false"}


def child_result(trainer: str, shape: str, returncode: int, stdout: str, stderr: str) -> dict:
    """The child's JSON line, or an error naming its exit status and last lines."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if returncode != 0 or not lines:
        tail = " | ".join((stderr or stdout).strip().splitlines()[-3:])
        return {"trainer": trainer, "shape": shape, "error": f"exit {returncode}: {tail[:300]}"}
    return json.loads(lines[-1])


def run_child(args: argparse.Namespace, trainer: str, shape: str) -> dict:
    cmd = child_command(args, trainer, shape)
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **CHILD_ENV})
    return child_result(trainer, shape, proc.returncode, proc.stdout, proc.stderr)


def run_lockstep(args: argparse.Namespace, shape: str) -> dict[str, dict]:
    """Both trainers' children at once, their timed steps in turn (``--alternate step``). Their warm-up
    steps run together (untimed); then rlvr's step 2, TRL's step 2, TRL's step 3, rlvr's step 3...: each
    pair of steps is adjacent in time, and the one that goes first alternates. A child that fails leaves
    the other to finish alone."""
    trainers = ("rlvr", "trl")
    with tempfile.TemporaryDirectory(prefix="vs-trl-lockstep-") as tmp:
        procs, errs, out = {}, {}, {t: [] for t in trainers}
        for t in trainers:
            errs[t] = open(Path(tmp) / f"{t}.err", "w+")  # noqa: SIM115  # closed below
            cmd = child_command(args, t, shape) + ["--lockstep"]
            procs[t] = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errs[t], text=True,
                env={**os.environ, **CHILD_ENV},
            )  # fmt: skip

        def until_step_done(t: str) -> bool:
            """Read child ``t``'s stdout to its next STEP_DONE (True) or its end (False)."""
            stdout = procs[t].stdout
            assert stdout is not None
            for line in stdout:
                if line.strip() == STEP_DONE:
                    return True
                out[t].append(line)
            procs[t].wait()
            return False

        running = {t: until_step_done(t) for t in trainers}  # the warm-up steps
        for i in range(args.steps - 1):
            for t in trainers if i % 2 == 0 else trainers[::-1]:
                if not running[t]:
                    continue
                stdin = procs[t].stdin
                assert stdin is not None
                stdin.write("go\n")
                stdin.flush()
                running[t] = until_step_done(t)
        results = {}
        for t in trainers:
            if procs[t].poll() is None:
                procs[t].kill()
            procs[t].wait()
            errs[t].seek(0)
            results[t] = child_result(t, shape, procs[t].returncode, "".join(out[t]), errs[t].read())
            errs[t].close()
    return results


def pool(runs: list[dict]) -> dict:
    """One trainer's rounds of one shape pooled: medians over every timed step of every round."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    steps = [x for r in ok for x in r["step_s"]]
    gen_s, upd_s = sum(x for r in ok for x in r["gen_s"]), sum(x for r in ok for x in r["update_s"])
    gen_tok = sum(x for r in ok for x in r["gen_tokens"])
    learn_tok = sum(x for r in ok for x in r["learner_tokens"])
    first = ok[0]
    return {
        "trainer": first["trainer"],
        "shape": first["shape"],
        "dtype": first["dtype"],
        "params_M": first["params_M"],
        "rounds": len(ok),
        "s_per_step": round(statistics.median(steps), 2),
        "cpu_s_per_step": round(statistics.median(x for r in ok for x in r["step_cpu_s"]), 2),
        "cpu_s_range": [round(f(x for r in ok for x in r["step_cpu_s"]), 2) for f in (min, max)],
        "step_cpu_s": [x for r in ok for x in r["step_cpu_s"]],
        "round_cpu_s": [statistics.median(r["step_cpu_s"]) for r in ok],
        "timed_steps": sum(len(r["step_cpu_s"]) for r in ok),
        "gen_cpu_s_per_step": round(statistics.median(x for r in ok for x in r["gen_cpu_s"]), 2),
        "update_cpu_s_per_step": round(
            statistics.median(
                s - g for r in ok for s, g in zip(r["step_cpu_s"], r["gen_cpu_s"], strict=True)
            ),
            2,
        ),
        "gen_tokens_per_s": round(gen_tok / gen_s, 1),
        "learner_tokens_per_s": round(learn_tok / upd_s, 1),
        "mean_completion_tokens": round(statistics.mean(r["mean_completion_tokens"] for r in ok), 1),
        "peak_rss_gib": max(r["peak_rss_gib"] for r in ok),
        "load_avg_1min": [x for r in ok for x in r["load_avg_1min"]],
        "lockstep": all(r.get("lockstep", False) for r in ok),
    }


def bootstrap_90(statistic: Callable[[random.Random], float], draws: int = 4000) -> tuple[float, float]:
    """The 5th and 95th percentiles of ``statistic`` over ``draws`` resamples, each drawn with its own
    calls to one seeded generator (the same interval for the same data on every run)."""
    rng = random.Random(0)
    values = sorted(statistic(rng) for _ in range(draws))
    return values[int(0.05 * draws)], values[int(0.95 * draws) - 1]


def ratio_interval(rlvr: list[float], trl: list[float]) -> tuple[float, float]:
    """A 90% bootstrap interval of median(``trl``) / median(``rlvr``) (two trainers' step times), each
    side's steps resampled with replacement on its own. The steps of one round share that round's load,
    so this is narrower than the spread between runs: read it with the per-round ratios."""
    return bootstrap_90(
        lambda rng: (
            statistics.median(rng.choices(trl, k=len(trl)))
            / statistics.median(rng.choices(rlvr, k=len(rlvr)))
        )
    )


def paired_ratio(rlvr: list[float], trl: list[float]) -> tuple[float, float, float]:
    """The median of the steps' ratios ``trl[i] / rlvr[i]`` (steps taken in turn, ``--alternate step``)
    and a 90% bootstrap interval of it, the pairs resampled with replacement."""
    ratios = [t / r for r, t in zip(rlvr, trl, strict=True)]
    low, high = bootstrap_90(lambda rng: statistics.median(rng.choices(ratios, k=len(ratios))))
    return statistics.median(ratios), low, high


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return
    raw = pooled_files(args) if args.pool else measure(args)
    rows = [{t: pool(r) for t, r in runs.items()} for runs in raw]
    print_table(rows, args)
    if args.output:
        out = {"args": vars(args), "runs": rows, "rounds": raw}
        Path(args.output).write_text(json.dumps(out, indent=1))


def measure(args: argparse.Namespace) -> list[dict[str, list[dict]]]:
    """Each shape's rounds: rlvr, TRL, rlvr, TRL... one child process at a time."""
    raw = []
    for shape in args.shapes:
        runs: dict[str, list[dict]] = {"rlvr": [], "trl": []}
        for _ in range(args.rounds):
            if args.alternate == "step":
                pair = run_lockstep(args, shape)
            else:
                pair = {t: run_child(args, t, shape) for t in ("rlvr", "trl")}
            for t in ("rlvr", "trl"):
                runs[t].append(pair[t])
                print(json.dumps(runs[t][-1]), flush=True)
        raw.append(runs)
    return raw


def pooled_files(args: argparse.Namespace) -> list[dict[str, list[dict]]]:
    """The rounds of earlier ``--output`` files, shape by shape; the settings (``args``) become the first
    file's, with ``shapes`` the files' and ``rounds`` the most of any shape. Files whose settings differ in
    anything but shapes and rounds are refused (their steps would not be the same work)."""
    files = [json.loads(Path(f).read_text()) for f in args.pool]
    same = ("steps", "prompts", "n", "max_new_tokens", "prompt_len", "fixed_length", "dtype")
    first = files[0]["args"]
    for f, data in zip(args.pool, files, strict=True):
        diff = [k for k in same if data["args"].get(k) != first.get(k)]
        if diff:
            raise SystemExit(
                f"--pool: {f} differs from {args.pool[0]} in {diff}; pool runs of the same settings"
            )
    by_shape: dict[str, dict[str, list[dict]]] = {}
    for data in files:
        for runs in data["rounds"]:
            shape = runs["rlvr"][0]["shape"]
            into = by_shape.setdefault(shape, {"rlvr": [], "trl": []})
            for t in ("rlvr", "trl"):
                into[t] += runs[t]
    for k, value in first.items():  # the runs' settings (micro-batch, engines...), not this call's defaults
        if k not in ("pool", "output", "rounds", "shapes"):
            setattr(args, k, value)
    args.shapes = list(by_shape)
    args.rounds = max(len(r["rlvr"]) for r in by_shape.values())
    return list(by_shape.values())


def print_table(rows: list[dict[str, dict]], args: argparse.Namespace) -> None:
    length = "exactly" if args.fixed_length else "up to"
    print(
        f"\n{args.prompts} prompts x {args.n}, {length} {args.max_new_tokens} new tokens"
        f"{' (EOS never sampled, same work on both sides)' if args.fixed_length else ''}, prompts "
        f"{args.prompt_len[0]}-{args.prompt_len[1]} tokens, {args.steps} steps x {args.rounds} rounds "
        f"(median of steps 2..N pooled over rounds), CPU, {THREADS} thread, {dtype_name(args)} "
        "parameters on both sides (pure: no autocast; gradients and AdamW moments in the same dtype)"
    )
    print(
        "| shape | params M | completion tokens (mean) | s/step rlvr | s/step trl | trl/rlvr | CPU s/step rlvr (range) | CPU s/step trl (range) | trl/rlvr (CPU) | gen CPU s rlvr / trl | update CPU s rlvr / trl | gen tok/s rlvr | gen tok/s trl | learner tok/s rlvr | learner tok/s trl | peak RSS GiB rlvr | peak RSS GiB trl | load avg | trl/rlvr (CPU) 90% interval | trl/rlvr (CPU) by round | trl/rlvr (CPU) of paired steps, median (90% interval) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for pair in rows:
        a, b = pair["rlvr"], pair["trl"]
        if "error" in a or "error" in b:
            print(f"| {a['shape']} | failed: {a.get('error') or b.get('error')} |")
            continue
        ratio = b["s_per_step"] / a["s_per_step"]
        cpu_ratio = b["cpu_s_per_step"] / a["cpu_s_per_step"]
        loads = a["load_avg_1min"] + b["load_avg_1min"]
        ra, rb = a["cpu_s_range"], b["cpu_s_range"]
        low, high = ratio_interval(a["step_cpu_s"], b["step_cpu_s"])
        by_round = ", ".join(f"{t / r:.2f}" for r, t in zip(a["round_cpu_s"], b["round_cpu_s"], strict=False))
        paired = "-"  # steps are pairs only when taken in turn, every round complete on both sides
        if a.get("lockstep") and b.get("lockstep") and len(a["step_cpu_s"]) == len(b["step_cpu_s"]):
            mid, lo, hi = paired_ratio(a["step_cpu_s"], b["step_cpu_s"])
            paired = f"{mid:.2f}x ({lo:.2f}-{hi:.2f}x)"
        print(
            f"| {a['shape']} | {a['params_M']} | {a['mean_completion_tokens']} / {b['mean_completion_tokens']} | "
            f"{a['s_per_step']} | {b['s_per_step']} | {ratio:.2f}x | {a['cpu_s_per_step']} ({ra[0]}-{ra[1]}) | "
            f"{b['cpu_s_per_step']} ({rb[0]}-{rb[1]}) | "
            f"{cpu_ratio:.2f}x | {a['gen_cpu_s_per_step']} / {b['gen_cpu_s_per_step']} | "
            f"{a['update_cpu_s_per_step']} / {b['update_cpu_s_per_step']} | {a['gen_tokens_per_s']} | {b['gen_tokens_per_s']} | "
            f"{a['learner_tokens_per_s']} | {b['learner_tokens_per_s']} | {a['peak_rss_gib']} | {b['peak_rss_gib']} | "
            f"{min(loads):.1f}-{max(loads):.1f} | {low:.2f}-{high:.2f}x | {by_round} | {paired} |"
        )


if __name__ == "__main__":
    main()
