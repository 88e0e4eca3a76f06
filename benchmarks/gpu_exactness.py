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

ROWS = (1, 8, 64, 128, 512)
SCALES = (0.01, 1.0, 100.0)
HIDDEN, KV, INTERMEDIATE = 896, 128, 4864  # Qwen2.5-0.5B: 14 heads of 64, 2 KV heads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--output", default=None, help="JSON results file")
    return p.parse_args(argv)


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
    if args.output:
        Path(args.output).write_text(
            json.dumps({"device": name, "torch": torch.__version__, "cases": cases}, indent=1)
        )


if __name__ == "__main__":
    main()
