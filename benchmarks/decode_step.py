"""One decode step of rlvr's fast decoder at a real shape on the CPU: user and system CPU ms, page faults.

    python benchmarks/decode_step.py --shape smollm-135m --dtype bfloat16
    python benchmarks/decode_step.py --shape smollm-135m --dtype bfloat16 --mallopt
    python benchmarks/decode_step.py --shape smollm-135m --dtype bfloat16 --floor --steps 48
    python benchmarks/decode_step.py --shape qwen2.5-0.5b --dtype bfloat16 --sampler-ab --steps 40

8 rows (``--rows``) after a 40-token prompt, ``--steps`` decode steps each sampled with ``sample_next``
(temperature 1), twice; one torch thread. ``--mallopt`` first raises glibc's mmap threshold to its
maximum (32 MiB) and its trim threshold to 1 GiB (``mallopt``, the same as the environment variables
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824``), so that freed blocks of a few
MiB (logits, the sampler's float64 cumulative sums) are reused instead of being returned to the kernel
and faulted in again at the next step: the system time and minor page faults a step are what it saves.
``--sampler-ab`` runs the decode loop with ``sample_next`` and with the sampler it replaced
(``one_level_sample_next``: a (B, V) log-softmax and a (B, V) float64 cumulative sum), alternating.
"""

from __future__ import annotations

import argparse
import ctypes
import resource
import sys
import time
from pathlib import Path
from unittest.mock import patch

import torch

sys.path.insert(0, str(Path(__file__).parent))
import gpu_grpo  # noqa: E402
import matmul_floor  # noqa: E402
import vs_trl_shapes as shapes  # noqa: E402

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="smollm-135m", choices=list(shapes.SHAPES))
    p.add_argument("--dtype", choices=list(gpu_grpo.DTYPES), default="bfloat16")
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--mallopt", action="store_true", help="keep freed blocks of up to 32 MiB in the heap")
    p.add_argument(
        "--floor", action="store_true",
        help="also time, interleaved, a decode step's bare matmuls (matmul_floor.py's) and the decoder without "
        "sampling: what the step spends beyond its matmuls, and on sampling",
    )  # fmt: skip
    p.add_argument("--sampler-ab", action="store_true", help="the sampler against the one it replaced")
    return p.parse_args(argv)


def one_level_sample_next(logits: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """rlvr's sampler as it was before the two-level search: ``sample_next`` with the one-level search at
    every vocabulary size (a (B, V) log-softmax and a (B, V) float64 cumulative sum), for ``--sampler-ab``."""
    from rlvr.rollout import sampling

    with patch.object(sampling, "ONE_LEVEL_MAX_VOCAB", logits.size(-1)):
        return sampling.sample_next(logits, temperature)


def usage() -> tuple[float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.mallopt:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20) and libc.mallopt(M_TRIM_THRESHOLD, 2**30)
        print("mallopt:", "set" if ok else "refused")
    from rlvr.models.fast_decoder import FastDecoder
    from rlvr.rollout.sampling import sample_next

    torch.set_num_threads(1)
    gpu_grpo.SHAPES.update(shapes.SHAPES)
    model = gpu_grpo.build_model(args.shape, torch.device("cpu"), gpu_grpo.DTYPES[args.dtype]).eval()
    decoder = FastDecoder(model)
    B, P = args.rows, 40
    vocab = min(1000, shapes.SHAPES[args.shape]["vocab_size"])  # ids the embedding has
    layers, head = matmul_floor.linears(model)

    def decode(sample: bool, sampler=sample_next) -> tuple[float, float, float]:
        cache = decoder.new_cache(B, P + args.steps + 1)
        decoder(torch.randint(2, vocab, (B, P)), torch.arange(P).expand(B, P), cache)
        tok = torch.randint(2, vocab, (B,))
        u0, s0, f0 = usage()
        for _ in range(args.steps):
            logits = decoder(tok[:, None], torch.full((B, 1), cache.length), cache)
            if sample:
                tok, _ = sampler(logits, 1.0)
        u1, s1, f1 = usage()
        return (u1 - u0) / args.steps * 1e3, (s1 - s0) / args.steps * 1e3, (f1 - f0) / args.steps

    def bare_matmuls() -> float:
        c0 = time.process_time()
        for _ in range(args.steps):
            matmul_floor.decode_step_matmuls(layers, head, B)
        return (time.process_time() - c0) / args.steps * 1e3

    name = f"{args.shape} {args.dtype}{' mallopt' if args.mallopt else ''}"
    with torch.no_grad():
        if args.sampler_ab:
            for rep in range(3):
                for label, sampler in (
                    ("sample_next", sample_next),
                    ("one-level (before)", one_level_sample_next),
                ):
                    user, system, faults = decode(True, sampler)
                    print(
                        f"{name} rep {rep} {label} sampler: a decode step {user + system:.1f} CPU ms (system "
                        f"{system:.1f}), {faults:.0f} minor page faults"
                    )
            return
        for rep in range(2 if not args.floor else 3):
            user, system, faults = decode(sample=True)
            print(
                f"{name} rep {rep}: a decode step of {B} rows user {user:.1f} ms, system {system:.1f} ms, "
                f"{faults:.0f} minor page faults"
            )
            if args.floor:
                print(
                    f"{name} rep {rep}: CPU ms a step: bare matmuls {bare_matmuls():.1f}, decoder without "
                    f"sampling {sum(decode(sample=False)[:2]):.1f}, with sampling {user + system:.1f}"
                )


if __name__ == "__main__":
    main()
