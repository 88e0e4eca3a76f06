"""Start-up overhead of one sandboxed run (bwrap) over a bare subprocess of the same interpreter.

    python benchmarks/sandbox_overhead.py [--runs 30]

Both run ``print(1)`` with ``python -I -S -B``; the sandboxed run also starts bwrap (namespaces, mounts),
sends its job, forks the worker under a fresh uid and reports back. Measured twice: cold (every call
starts its own sandbox: ``RLVR_SANDBOX_PRESTART=0``) interleaved with bare runs, and back to back with
the next sandbox started during each call (the default). Prints median, p90 and min per call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from rlvr.rewards.sandbox import SandboxLimits, bare_run, check_bwrap, run_python


def _interleaved(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Wall seconds per call of each function, the functions taking turns (so each sees the same load)."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - start)
    return out


def _report(times: dict[str, list[float]]) -> None:
    for name, xs in times.items():
        xs = sorted(xs)
        p90 = xs[int(0.9 * (len(xs) - 1))]
        print(f"  {name:34} {1000 * statistics.median(xs):8.1f} {1000 * p90:8.1f} {1000 * xs[0]:8.1f}")


def _loop(fn: Callable[[], object], runs: int) -> list[float]:
    """Per-call wall seconds of ``fn`` called back to back (as the code verifier runs its tests)."""
    return list(_interleaved({"x": fn}, runs)["x"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    check_bwrap()  # the one-time probe is not part of a call
    limits = SandboxLimits(timeout_s=10)

    def script() -> object:
        return run_python("print(1)", limits=limits)

    def call() -> object:
        return run_python("def f(x):\n    return x", "[1]", fn_name="f", limits=limits)

    def bare() -> object:
        return bare_run("print(1)")

    print(f"  {'per call, ms':34} {'median':>8} {'p90':>8} {'min':>8}")
    os.environ["RLVR_SANDBOX_PRESTART"] = "0"
    cold = _interleaved({"bare subprocess": bare, "bwrap, cold start (script)": script}, args.runs)
    cold["bwrap, cold start (call)"] = _loop(call, args.runs)
    _report(cold)
    os.environ["RLVR_SANDBOX_PRESTART"] = "1"
    warm = {
        "bare subprocess, back to back": _loop(bare, args.runs),
        "bwrap, started ahead (script)": _loop(script, args.runs),
        "bwrap, started ahead (call)": _loop(call, args.runs),
    }
    _report(warm)
    pairs = zip(cold["bare subprocess"], cold["bwrap, cold start (script)"], strict=True)
    over = statistics.median(b - a for a, b in pairs)
    warm_over = statistics.median(warm["bwrap, started ahead (script)"]) - statistics.median(
        warm["bare subprocess, back to back"]
    )
    ratio = statistics.median(cold["bwrap, cold start (script)"]) / statistics.median(cold["bare subprocess"])
    print(
        f"cold-start overhead over a bare subprocess: {1000 * over:.1f} ms (median of paired runs), ratio {ratio:.2f}x"
    )
    print(f"back-to-back overhead with the sandbox started ahead: {1000 * warm_over:.1f} ms per call")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
