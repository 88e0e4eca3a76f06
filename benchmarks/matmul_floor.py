"""The matmul floor of a GRPO step at a real shape on the CPU, next to rlvr's and TRL's measured steps.

    python benchmarks/matmul_floor.py --shape qwen2.5-0.5b --dtype float32 --fixed-length --prompts 2 --n 4 \\
        --max-new-tokens 96 --steps 3 --with rlvr trl --output benchmarks/results/matmul_floor_qwen05b_fp32.json

The question it answers: can any trainer that does the same work as TRL be 2x faster than it on this CPU?
A GRPO step must at least run its linear layers' matmuls and its optimizer step; the *floor* is the CPU
time of exactly those, run bare (``F.linear`` / ``torch.mm`` on the model's own weights in its dtype, one
torch thread, no attention, norms, sampling, Python around them), for the work of the benchmark's steps:

- generation: one prefill of each distinct prompt (prefix sharing, the least any trainer can do), the LM
  head on its last position only, then ``max_new_tokens - 1`` decode steps of prompts x n rows through
  every layer and the LM head (the first token comes from the prefill's logits);
- update: forward through every layer over each distinct prompt once (its positions do not depend on the
  completions: rlvr's shared prefix) and each completion's positions but its last token (which is never
  an input), the LM head on the positions that predict a completion token only, and backward (grad of
  the input and of the weight: two matmuls a layer);
- optimizer: one ``torch.optim.AdamW(fused=True)`` step (PyTorch's fastest) over all parameters.

No trainer doing this work with these kernels can take less CPU time than the floor, so TRL's step / the
floor is the largest speed-up over TRL that equal work allows here, and rlvr's step / the floor is what
rlvr spends beyond the matmuls. ``--with rlvr trl`` measures the trainers' steps in the same run
(``vs_trl_shapes.py``'s child processes, one at a time; median CPU seconds of steps 2..N). The workload
options are vs_trl_shapes.py's; use ``--fixed-length`` (EOS never sampled) so the floor's completion
lengths are the trainers'.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import gpu_grpo  # noqa: E402
import vs_trl_shapes as shapes  # noqa: E402

Linear = tuple[torch.Tensor, torch.Tensor | None]  # (weight (out, in), bias)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="qwen2.5-0.5b", choices=list(shapes.SHAPES))
    gpu_grpo.add_workload_args(p, steps=3, prompts=2, n=4, max_new_tokens=96, prompt_len=(8, 64))
    shapes.add_length_arg(p)
    p.add_argument("--repeats", type=int, default=2, help="floor measurements (the minimum is reported)")
    p.add_argument("--with", dest="trainers", nargs="*", default=[], choices=["rlvr", "trl"])
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    args.micro = args.prompts * args.n
    args.engines, args.device, args.peak_tflops, args.rounds = ["hf"], "cpu", 1.0, 1
    return args


def linears(model: torch.nn.Module) -> tuple[list[Linear], torch.Tensor]:
    """The decoder layers' linear maps in forward order, and the LM head's weight (tied or not)."""
    layers = [
        (m.weight, m.bias)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and not name.endswith("lm_head")
    ]
    return layers, model.get_output_embeddings().weight


def cpu_seconds(fn: Callable[[], None], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return best


def forward_rows(layers: list[Linear], rows: int, dtype: torch.dtype) -> None:
    """Every layer's matmul on ``rows`` input rows (each layer's own input width)."""
    for w, b in layers:
        F.linear(torch.ones(rows, w.shape[1], dtype=dtype), w, b)


@torch.no_grad()
def generation_floor(
    layers: list[Linear], head: torch.Tensor, prompt_lens: list[int], args: argparse.Namespace
) -> None:
    dtype = head.dtype
    for length in prompt_lens:  # one prefill a distinct prompt
        forward_rows(layers, length, dtype)
        F.linear(torch.ones(1, head.shape[1], dtype=dtype), head)
    for _ in range(args.max_new_tokens - 1):
        decode_step_matmuls(layers, head, len(prompt_lens) * args.n)


def decode_step_matmuls(layers: list[Linear], head: torch.Tensor, rows: int) -> None:
    """One decode step's matmuls: ``rows`` rows through every layer and the LM head."""
    forward_rows(layers, rows, head.dtype)
    F.linear(torch.ones(rows, head.shape[1], dtype=head.dtype), head)


@torch.no_grad()
def update_floor(
    layers: list[Linear], head: torch.Tensor, prompt_lens: list[int], args: argparse.Namespace
) -> None:
    dtype = head.dtype
    tokens = sum(length + args.n * (args.max_new_tokens - 1) for length in prompt_lens)
    completions = len(prompt_lens) * args.n * args.max_new_tokens
    for w, rows in [(w, tokens) for w, _ in layers] + [(head, completions)]:
        x = torch.ones(rows, w.shape[1], dtype=dtype)
        g = torch.ones(rows, w.shape[0], dtype=dtype)
        F.linear(x, w)  # forward
        torch.mm(g, w)  # grad of the input
        torch.mm(g.t(), x)  # grad of the weight


def optimizer_floor(model: torch.nn.Module) -> Callable[[], None]:
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.zeros_like(p)
    opt = torch.optim.AdamW(params, lr=1e-6, fused=True)
    return opt.step


def measure_floor(args: argparse.Namespace) -> dict:
    torch.set_num_threads(shapes.THREADS)
    gpu_grpo.SHAPES.update(shapes.SHAPES)
    model = gpu_grpo.build_model(args.shape, torch.device("cpu"), gpu_grpo.DTYPES[shapes.dtype_name(args)])
    layers, head = linears(model)
    prompts = gpu_grpo.make_prompts(args, shapes.SHAPES[args.shape]["vocab_size"], seed=1)  # the trainers'
    per_step = [
        [len(p) for p in prompts[s * args.prompts : (s + 1) * args.prompts]] for s in range(1, args.steps)
    ]  # steps 2..N, the timed ones
    gen = [
        cpu_seconds(lambda lens=lens: generation_floor(layers, head, lens, args), args.repeats)
        for lens in per_step
    ]
    upd = [
        cpu_seconds(lambda lens=lens: update_floor(layers, head, lens, args), args.repeats)
        for lens in per_step
    ]
    opt = cpu_seconds(optimizer_floor(model), args.repeats)
    return {
        "gen_cpu_s": round(statistics.median(gen), 3),
        "update_matmul_cpu_s": round(statistics.median(upd), 3),
        "optimizer_cpu_s": round(opt, 3),
        "step_cpu_s": round(statistics.median(g + u + opt for g, u in zip(gen, upd, strict=True)), 3),
        "prompt_lens": per_step,
        "linear_layers": len(layers),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.fixed_length is False:
        print(
            "note: without --fixed-length the trainers' completions end at EOS; the floor assumes full length"
        )
    floor = measure_floor(args)
    print(json.dumps({"floor": floor}), flush=True)
    runs = {}
    for trainer in args.trainers:
        runs[trainer] = shapes.pool([shapes.run_child(args, trainer, args.shape)])
        print(json.dumps(runs[trainer]), flush=True)
    print_table(args, floor, runs)
    if args.output:
        Path(args.output).write_text(json.dumps({"args": vars(args), "floor": floor, "runs": runs}, indent=1))


def print_table(args: argparse.Namespace, floor: dict, runs: dict[str, dict]) -> None:
    print(
        f"\n{args.shape} {shapes.dtype_name(args)}, {args.prompts} prompts x {args.n}, "
        f"{args.max_new_tokens} new tokens, CPU seconds a step (median of steps 2..{args.steps}), 1 thread"
    )
    print("| | generation | update | step | step / floor |")
    print("|---|---|---|---|---|")
    f_upd = floor["update_matmul_cpu_s"] + floor["optimizer_cpu_s"]
    print(
        f"| floor (matmuls + AdamW) | {floor['gen_cpu_s']} | {f_upd:.3f} (matmuls {floor['update_matmul_cpu_s']}, "
        f"AdamW {floor['optimizer_cpu_s']}) | {floor['step_cpu_s']} | 1.00 |"
    )
    for name, r in runs.items():
        if "error" in r:
            print(f"| {name} | error: {r['error']} | | | |")
            continue
        ratio = r["cpu_s_per_step"] / floor["step_cpu_s"]
        print(
            f"| {name} | {r['gen_cpu_s_per_step']} | {r['update_cpu_s_per_step']} | {r['cpu_s_per_step']} | "
            f"{ratio:.2f} |"
        )
    if "trl" in runs and "error" not in runs["trl"]:
        print(
            f"\nThe most any equal-work trainer can gain over TRL here: {runs['trl']['cpu_s_per_step']} / "
            f"{floor['step_cpu_s']} = {runs['trl']['cpu_s_per_step'] / floor['step_cpu_s']:.2f}x"
        )


if __name__ == "__main__":
    main()
