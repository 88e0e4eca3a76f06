"""Where a GRPO step's time goes at a real model shape on the CPU, for rlvr or TRL: an operator profile.

    python benchmarks/profile_shapes.py --trainer rlvr --shape llama-30m
    python benchmarks/profile_shapes.py --trainer trl --shape smollm-135m --fixed-length --top 20

The run is ``benchmarks/vs_trl_shapes.py``'s (same model, prompts, EOS bias, matched settings,
``--dtype``, float32 by default, one torch thread) under ``torch.profiler``: step 1 is warm-up and not
recorded, steps 2..N are. The step's two halves are marked (generation: rlvr's ``HFEngine.generate`` / TRL's
``_generate_and_score_completions``; update: rlvr's ``Learner.update`` / TRL's ``training_step``,
forward and backward, and what runs outside both, "other": rlvr's collate and advantages, TRL's
optimizer step), and each operator's own CPU time is charged to the part it ran in (TRL's wall time of
its update covers its "other"). What a half spends outside any operator
(Python, dispatch, the trainer's bookkeeping) is its "outside operators" line: the host overhead that
a GPU could not hide. The profiler adds a few microseconds an operator, so read shares, not seconds.

Prints, per half: wall seconds a step, tokens (generated; learner = prompt + completion of every row),
microseconds an operator a token, and the top operators by own CPU time. ``--output`` writes the same
as JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function, schedule

sys.path.insert(0, str(Path(__file__).parent))
import gpu_grpo  # noqa: E402
import vs_trl_shapes as shapes  # noqa: E402

PHASES = ("generate", "update", "other")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trainer", choices=["rlvr", "trl"], default="rlvr")
    p.add_argument("--shape", default="llama-30m", choices=list(shapes.SHAPES))
    gpu_grpo.add_workload_args(p, steps=3, prompts=2, n=4, max_new_tokens=96, prompt_len=(8, 64))
    shapes.add_length_arg(p)
    p.add_argument("--top", type=int, default=15, help="operators listed per half")
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    args.micro = args.prompts * args.n
    args.engines, args.device, args.peak_tflops = ["hf"], "cpu", 1.0
    args.eos_bias = shapes.eos_bias(
        shapes.SHAPES[args.shape]["vocab_size"], args.max_new_tokens, args.fixed_length
    )
    return args


def marked(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` inside a profiler range named ``phase:<name>``."""

    @functools.wraps(fn)
    def wrapper(*a: Any, **k: Any) -> Any:
        with record_function(f"phase:{name}"):
            return fn(*a, **k)

    return wrapper


def mark_phases(trainer: str) -> None:
    """Wrap the two halves of a step in profiler ranges (class attributes: the run builds the objects)."""
    if trainer == "rlvr":
        from rlvr.rollout.hf_engine import HFEngine
        from rlvr.training.learner import Learner

        HFEngine.generate = marked("generate", HFEngine.generate)  # type: ignore[method-assign]
        Learner.update = marked("update", Learner.update)  # type: ignore[method-assign]
    else:
        from trl import GRPOTrainer

        GRPOTrainer._generate_and_score_completions = marked(  # type: ignore[method-assign]
            "generate", GRPOTrainer._generate_and_score_completions
        )
        GRPOTrainer.training_step = marked("update", GRPOTrainer.training_step)  # type: ignore[method-assign]


def split_by_phase(events: Any) -> dict[str, dict[str, float]]:
    """Own CPU microseconds of each operator, by the innermost phase range it started in (``other``:
    none; TRL's update range holds its generation range); the ranges' own time (outside any operator
    and any inner range) as ``outside operators``."""
    ranges = sorted(
        ((e.time_range.start, e.time_range.end, e.name.removeprefix("phase:")) for e in events
         if e.name.startswith("phase:")),
        reverse=True,
    )  # fmt: skip
    out: dict[str, dict[str, float]] = {p: defaultdict(float) for p in PHASES}
    for e in events:
        if e.name.startswith("phase:"):
            out[e.name.removeprefix("phase:")]["outside operators"] += e.self_cpu_time_total
            continue
        start = e.time_range.start
        phase = next((name for lo, hi, name in ranges if lo <= start < hi), "other")
        out[phase][e.name] += e.self_cpu_time_total
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(shapes.THREADS)
    gpu_grpo.SHAPES.update(shapes.SHAPES)
    mark_phases(args.trainer)
    device = torch.device("cpu")
    prof = profile(
        activities=[ProfilerActivity.CPU],
        schedule=schedule(skip_first=1, wait=0, warmup=0, active=args.steps - 1, repeat=1),
    )
    args.step_hook = prof.step
    with prof:
        if args.trainer == "rlvr":
            result = gpu_grpo.run_rlvr("hf", args.shape, args, device)
        else:
            with tempfile.TemporaryDirectory(prefix="profile-shapes-") as tmp:
                result = gpu_grpo.run_trl(args.shape, args, device, Path(tmp))
    timed = result.steps[1:]
    n = len(timed)
    tokens = {
        "generate": sum(s.gen_tokens for s in timed),
        "update": sum(s.learner_tokens for s in timed),
        "other": sum(s.learner_tokens for s in timed),
    }
    wall = {
        "generate": sum(s.gen_s for s in timed),
        "update": sum(s.update_s for s in timed),
        "other": sum(s.other_s for s in timed),
    }
    by_phase = split_by_phase(prof.events())
    report: dict[str, Any] = {"args": {k: v for k, v in vars(args).items() if k != "step_hook"}, "phases": {}}
    print(
        f"{args.trainer} {args.shape}: {args.prompts} prompts x {args.n}, up to {args.max_new_tokens} new "
        f"tokens{' (fixed length)' if args.fixed_length else ''}, steps 2..{args.steps}, 1 thread, "
        f"{shapes.dtype_name(args)}"
    )
    for phase in PHASES:
        ops = by_phase[phase]
        total = sum(ops.values())
        tok = max(tokens[phase], 1)
        print(
            f"\n== {phase}: {wall[phase] / n:.2f} s/step wall, {tokens[phase] / n:.0f} tokens/step, "
            f"profiled CPU {total / 1e6 / n:.2f} s/step, {total / tok:.0f} us/token"
        )
        top = sorted(ops.items(), key=lambda kv: -kv[1])[: args.top]
        for name, us in top:
            print(
                f"  {us / 1e6 / n:8.3f} s/step {100 * us / max(total, 1):5.1f}%  {us / tok:9.1f} us/token  {name}"
            )
        report["phases"][phase] = {
            "wall_s_per_step": wall[phase] / n,
            "tokens_per_step": tokens[phase] / n,
            "profiled_cpu_s_per_step": total / 1e6 / n,
            "top_ops_s_per_step": {name: us / 1e6 / n for name, us in top},
        }
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
