"""Would the fast decoder's CPU-only shortcuts be exact on a GPU? Bit-for-bit checks and timings there.

    python benchmarks/gpu_exactness.py --output /tmp/exactness.json     # on a GPU; ~20 s
    python benchmarks/gpu_exactness.py --device cpu                      # the same checks on the CPU

Two shortcuts of ``rlvr.models.fast_decoder`` run on the CPU only, because on a GPU they might round
differently from what they replace (``docs/performance.md``, items (5) and (6) of the next GPU session):

    lean norm     ``LeanRMSNorm``: ``weight * F.rms_norm(x.float()).to(dtype)`` against the model's own
                  RMSNorm module (``pow(2).mean()``, ``rsqrt``...), Qwen2.5-0.5B's width (896)
    stacked       q, k and v (896 -> 896, 128, 128) and a gated MLP's gate and up (896 -> 4,864 twice) as one
                  matmul over the stacked weights, split back, against one ``F.linear`` each

For each, over row counts of a decode step (1-128) and a prefill (512), and inputs scaled by 0.01-100:
whether every output is ``torch.equal`` to the plain one (and else the largest difference), and the
time of one call of each way (CUDA events, the median of 200 calls after a warm-up). Both are worth
turning on for a GPU decode only where they are exact and save time; a decode step is host-bound there,
so fewer kernel launches is the saving to look for.

A third check runs the engine's decode steps (``rlvr.rollout.decode_steps.FastSteps``) and their CUDA-graph
form (``rlvr.rollout.graphed_steps.GraphedSteps``, ``rollout.cuda_graphs``) side by side on one model
(``--shape``: Qwen2.5-0.5B's on a GPU, the tiny one on the CPU, where the capture is stood in for by
rerunning the step): 16 left-padded prompts x 8 rows, 48 decode steps fed the eager steps' greedy tokens,
half the rows dropped at step 24 (a new capture), and reports the largest logit difference, whether every
step's argmax agrees, and the median ms of a decode step each way (steps after the first of each capture).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))

ROWS = (1, 8, 64, 128, 512)
SCALES = (0.01, 1.0, 100.0)
HIDDEN, KV, INTERMEDIATE = 896, 128, 4864  # Qwen2.5-0.5B: 14 heads of 64, 2 KV heads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--shape", default=None, help="the graphed-decode check's model (default: by device)")
    p.add_argument("--output", default=None, help="JSON results file")
    args = p.parse_args(argv)
    if args.shape is None:
        args.shape = "qwen2.5-0.5b" if args.device.startswith("cuda") else "tiny"
    return args


def call_us(fn: Callable[[], object], device: torch.device) -> float:
    """Median microseconds of one call of ``fn``: CUDA events on a GPU (200 calls), the wall clock on the
    CPU (20)."""
    reps = 200 if device.type == "cuda" else 20
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) * 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def compare(got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...]) -> tuple[bool, float]:
    equal = all(torch.equal(g, w) for g, w in zip(got, want, strict=True))
    diff = max(float((g.float() - w.float()).abs().max()) for g, w in zip(got, want, strict=True))
    return equal, diff


def lean_norm_cases(device: torch.device, dtype: torch.dtype) -> list[dict]:
    from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm

    from rlvr.models.fast_decoder import LeanRMSNorm

    torch.manual_seed(0)
    module = Qwen2RMSNorm(HIDDEN, eps=1e-6).to(device, dtype)
    with torch.no_grad():
        module.weight.copy_(1 + 0.1 * torch.randn(HIDDEN, device=device))
    lean = LeanRMSNorm(module)
    out = []
    with torch.no_grad():
        for rows in ROWS:
            for scale in SCALES:
                x = (scale * torch.randn(rows, 1, HIDDEN, device=device)).to(dtype)
                equal, diff = compare((lean(x),), (module(x),))
                case = {"check": "lean norm", "rows": rows, "scale": scale, "equal": equal, "max_diff": diff}
                if scale == 1.0:
                    case["us_module"] = call_us(lambda x=x: module(x), device)
                    case["us_lean"] = call_us(lambda x=x: lean(x), device)
                out.append(case)
    return out


def stacked_cases(device: torch.device, dtype: torch.dtype) -> list[dict]:
    torch.manual_seed(1)
    groups = {"q/k/v": (HIDDEN, KV, KV), "gate/up": (INTERMEDIATE, INTERMEDIATE)}
    out = []
    with torch.no_grad():
        for name, sizes in groups.items():
            weights = [(torch.randn(n, HIDDEN, device=device) / HIDDEN**0.5).to(dtype) for n in sizes]
            biased = name == "q/k/v"  # Qwen2's q, k and v have biases, its MLP none
            biases = [torch.randn(n, device=device).to(dtype) if biased else None for n in sizes]
            stacked_w = torch.cat(weights)
            stacked_b = torch.cat(biases) if biased else None  # type: ignore[arg-type]

            def separate(x, weights=weights, biases=biases):
                return tuple(F.linear(x, w, b) for w, b in zip(weights, biases, strict=True))

            def stacked(x, w=stacked_w, b=stacked_b, sizes=sizes):
                return F.linear(x, w, b).split_with_sizes(sizes, dim=-1)

            for rows in ROWS:
                for scale in SCALES:
                    x = (scale * torch.randn(rows, 1, HIDDEN, device=device)).to(dtype)
                    equal, diff = compare(stacked(x), separate(x))
                    case = {"check": f"stacked {name}", "rows": rows, "scale": scale, "equal": equal}
                    case["max_diff"] = diff
                    if scale == 1.0:
                        case["us_separate"] = call_us(lambda x=x: separate(x), device)
                        case["us_stacked"] = call_us(lambda x=x: stacked(x), device)
                    out.append(case)
    return out


def graphed_decode_case(shape: str, device: torch.device, steps: int = 48, drop_at: int = 24) -> dict:
    """``FastSteps`` against ``GraphedSteps`` step by step on the same tokens (see the module docstring)."""
    import gpu_grpo

    from rlvr.models.attention import set_cudnn_attention
    from rlvr.rollout.decode_steps import FastSteps, positions_from_mask
    from rlvr.rollout.graphed_steps import GraphedSteps
    from rlvr.rollout.hf_engine import _left_pad

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = gpu_grpo.build_model(shape, device, dtype).eval()
    set_cudnn_attention(False, device)  # rlvr's default, as load_model sets it
    vocab = gpu_grpo.SHAPES[shape]["vocab_size"]
    lengths = (32, 128) if device.type == "cuda" else (3, 6)
    prompts = gpu_grpo.make_prompts(
        argparse.Namespace(steps=1, prompts=16, prompt_len=lengths), vocab, seed=1
    )
    ids, mask = (t.to(device) for t in _left_pad(prompts, pad=0))
    width = ids.size(1)
    owner = torch.arange(len(prompts), device=device).repeat_interleave(8)
    ways = {"eager": FastSteps(model), "graphed": GraphedSteps(model)}
    times: dict[str, list[float]] = {name: [] for name in ways}
    max_diff, argmax_agrees = 0.0, True
    with torch.no_grad():
        first = {
            name: w.prefill(ids, positions_from_mask(mask), mask, owner, width + steps)
            for name, w in ways.items()
        }
        tokens, next_pos = first["eager"].argmax(-1), mask.sum(-1)[owner]
        for t in range(steps):
            if t == drop_at:
                keep = torch.arange(0, tokens.numel(), 2, device=device)
                for w in ways.values():
                    w.keep(keep)
                tokens, next_pos = tokens[keep], next_pos[keep]
            logits = {}
            for name, w in ways.items():
                gpu_grpo.sync(device)
                t0 = time.perf_counter()
                logits[name] = w.decode(tokens, next_pos + t).float()  # a copy: the graph reuses its output
                gpu_grpo.sync(device)
                if t not in (0, drop_at):  # each capture's first step runs eagerly and captures
                    times[name].append(1e3 * (time.perf_counter() - t0))
            max_diff = max(max_diff, float((logits["graphed"] - logits["eager"]).abs().max()))
            argmax_agrees &= bool(torch.equal(logits["graphed"].argmax(-1), logits["eager"].argmax(-1)))
            tokens = logits["eager"].argmax(-1)
    ms = {name: statistics.median(v) for name, v in times.items()}
    return {
        "check": "graphed decode", "shape": shape, "rows": int(owner.numel()), "steps": steps,
        "max_diff": max_diff, "argmax_agrees": argmax_agrees,
        "ms_eager": round(ms["eager"], 3), "ms_graphed": round(ms["graphed"], 3),
        "speedup": round(ms["eager"] / ms["graphed"], 2),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16
    cases = lean_norm_cases(device, dtype) + stacked_cases(device, dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{name}, {dtype}, torch {torch.__version__}")
    print("| check | rows | scale | equal | max diff | us plain | us shortcut |")
    print("|---|---|---|---|---|---|---|")
    for c in cases:
        plain = c.get("us_module", c.get("us_separate", ""))
        short = c.get("us_lean", c.get("us_stacked", ""))
        fmt = lambda v: f"{v:.1f}" if isinstance(v, float) else v  # noqa: E731
        print(
            f"| {c['check']} | {c['rows']} | {c['scale']} | {c['equal']} | {c['max_diff']:.3g} | {fmt(plain)} "
            f"| {fmt(short)} |"
        )
    by_check: dict[str, bool] = {}
    for c in cases:
        by_check[c["check"]] = by_check.get(c["check"], True) and c["equal"]
    print("all equal:", json.dumps(by_check))
    try:  # a capture that fails on this GPU is a finding too: keep the checks above either way
        graphed = graphed_decode_case(args.shape, device)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        graphed = {"check": "graphed decode", "shape": args.shape, "error": repr(exc)}
    print("graphed decode:", json.dumps(graphed))
    if args.output:
        Path(args.output).write_text(
            json.dumps(
                {"device": name, "torch": torch.__version__, "cases": cases, "graphed_decode": graphed},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
