"""cProfile of rlvr's and TRL's training steps, on benchmarks/vs_trl.py's setup: where a step's time goes.

    python benchmarks/profile_step.py                       # both, 12 steps of 16 prompts x 8
    python benchmarks/profile_step.py --side rlvr --steps 20 --prompts 32 --top 40

Steps 2..N are profiled (step 1 is warm-up); each side runs alone (no interleaving), rlvr first. The
profiler adds overhead to Python-heavy code, so read the split between parts, not the absolute seconds,
and time with vs_trl.py. Prints the top functions by cumulative time, per step.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
import warnings
from pathlib import Path

import torch
import vs_trl as bench

from rlvr.data.specs import load_dataset_specs


def print_stats(name: str, profile: cProfile.Profile, steps: int, wall: float, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    print(f"\n==== {name}: {steps} profiled steps, {wall / max(steps, 1):.3f} s/step under the profiler ====")
    print("(divide cumtime by the number of steps for seconds per step)")
    print(out.getvalue())


def profile_rlvr(run: bench.RlvrRun, cfg, top: int) -> None:
    run.step()  # warm-up
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    for _ in range(cfg.trainer.steps - 1):
        profile.enable()
        run.step()
        profile.disable()
    print_stats("rlvr RLTrainer.train_step", profile, cfg.trainer.steps - 1, time.perf_counter() - t0, top)
    run.finish()


def profile_trl(cfg, sft_dir: Path, train_samples, order: list[int], workdir: Path, top: int) -> None:
    from transformers import TrainerCallback

    profile = cProfile.Profile()

    class Profiler(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step >= 1:  # skip the warm-up step
                profile.enable()

        def on_step_end(self, args, state, control, **kwargs):
            profile.disable()

    run = bench.TrlRun(cfg, sft_dir, train_samples, order, workdir)
    run.trainer.add_callback(Profiler())
    t0 = time.perf_counter()
    run.train()
    wall = sum(run.step_s[1:])
    print_stats("trl GRPOTrainer step", profile, cfg.trainer.steps - 1, wall or time.perf_counter() - t0, top)


def main() -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--side", choices=["rlvr", "trl", "both"], default="both")
    extra.add_argument("--top", type=int, default=30, help="functions to list per side")
    own, rest = extra.parse_known_args()
    args = bench.parse_args(rest if "--steps" in rest else ["--steps", "12", *rest], parents=(extra,))
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(bench.THREADS)
    bench.quiet_transformers()
    with tempfile.TemporaryDirectory(prefix="rlvr-profile-") as tmp:
        workdir = Path(tmp)
        cfg = bench.base_config(args, workdir)
        sft_dir = bench.sft_checkpoint(cfg, workdir)
        rl = bench.RlvrRun(cfg, sft_dir, workdir)
        order = bench.prompt_order(rl.trainer.sampler, cfg.trainer.steps * cfg.trainer.prompts_per_step)
        if own.side in ("rlvr", "both"):
            profile_rlvr(rl, cfg, own.top)
        if own.side in ("trl", "both"):
            profile_trl(cfg, sft_dir, load_dataset_specs(cfg.data.train), order, workdir, own.top)


if __name__ == "__main__":
    main()
