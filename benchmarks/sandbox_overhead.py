"""Start-up overhead of one sandboxed run (bwrap) over a bare subprocess of the same interpreter.

    python benchmarks/sandbox_overhead.py [--runs 30]

Both run ``print(1)`` with ``python -I -S -B``; the sandboxed run also writes its job, starts bwrap, sets
up the namespaces and mounts, forks the worker under a fresh uid and reports back. Prints the median and
p90 wall time per call of each, the difference, and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from rlvr.rewards.sandbox import SandboxLimits, bare_run, check_bwrap, run_python


def _time(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    check_bwrap()  # the one-time probe is not part of a call
    limits = SandboxLimits(timeout_s=10)
    bare = _time(lambda: bare_run("print(1)"), args.runs)
    boxed = _time(lambda: run_python("print(1)", limits=limits), args.runs)
    call = _time(lambda: run_python("def f(x):\n    return x", "[1]", fn_name="f", limits=limits), args.runs)

    def p90(xs: list[float]) -> float:
        return xs[int(0.9 * (len(xs) - 1))]

    print(f"{'':24} {'median ms':>10} {'p90 ms':>8}")
    for name, xs in (("bare subprocess", bare), ("bwrap sandbox (script)", boxed), ("bwrap sandbox (call)", call)):
        print(f"{name:24} {1000 * statistics.median(xs):10.1f} {1000 * p90(xs):8.1f}")
    over = statistics.median(boxed) - statistics.median(bare)
    print(f"overhead per call: {1000 * over:.1f} ms (median); ratio {statistics.median(boxed) / statistics.median(bare):.2f}x")


if __name__ == "__main__":
    main()
