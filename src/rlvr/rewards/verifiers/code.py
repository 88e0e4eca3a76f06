"""``code``: run the completion's Python against test cases in the sandbox (``rlvr.rewards.sandbox``)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from typing import Any

from rlvr.rewards.extract import code_block
from rlvr.rewards.sandbox import SandboxLimits, SandboxResult, call_result, run_python
from rlvr.rewards.types import VERIFIERS, RewardResult

MAX_PROGRAM_CHARS = 200_000


def same_value(got: Any, expected: Any, tol: float = 1e-6) -> bool:
    """Equality of JSON values, floats within ``tol`` (relative or absolute), tuples as lists."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return got == expected
    if isinstance(got, int | float) and isinstance(expected, int | float):
        return math.isclose(got, expected, rel_tol=tol, abs_tol=tol)
    if isinstance(got, list | tuple) and isinstance(expected, list | tuple):
        return len(got) == len(expected) and all(
            same_value(g, e, tol) for g, e in zip(got, expected, strict=True)
        )
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(same_value(got[k], expected[k], tol) for k in got)
    return got == expected


def _check(test: dict[str, Any], fn_name: str | None, run: SandboxResult) -> str | None:
    """None if the run passed ``test``, else a short reason."""
    failure = run.failure()
    if failure:
        return failure
    if fn_name:
        found, value = call_result(run)
        if not found:
            return "no result returned"
        if run.error_type:
            return f"runtime error: {run.error_type}"
        return None if same_value(value, test["expected"]) else "wrong answer"
    return None if run.stdout.split() == str(test["output"]).split() else "wrong answer"


def compile_error(program: str) -> str | None:
    """Why ``program`` does not compile, decided here (compiling runs nothing), or None."""
    if len(program) > MAX_PROGRAM_CHARS:
        return f"compile error: program longer than {MAX_PROGRAM_CHARS} characters"
    try:
        compile(program, "main.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return f"compile error: {type(exc).__name__}: {exc}"[:300]
    return None


def _tests(ground_truth: Any) -> tuple[list[dict[str, Any]], str | None]:
    if not isinstance(ground_truth, dict) or not ground_truth.get("tests"):
        raise ValueError("ground truth must be {'tests': [...]} or {'fn_name': ..., 'tests': [...]}")
    fn_name = ground_truth.get("fn_name")
    keys = {"expected"} if fn_name else {"input", "output"}  # "args" may be omitted for f()
    for i, t in enumerate(ground_truth["tests"]):
        if not isinstance(t, dict) or not keys <= t.keys():
            raise ValueError(f"test {i} must have keys {sorted(keys)}, got {t!r}")
    return ground_truth["tests"], fn_name


@VERIFIERS.register("code")
def code(
    completion: str,
    ground_truth: Any,
    *,
    timeout_s: float = 5.0,
    total_timeout_s: float = 20.0,
    memory_mb: int = 512,
    packages: list[str] | None = None,
) -> RewardResult:
    """Score = fraction of test cases passed; a compile error or any timeout scores 0.0.

    The program is the last fenced ``python`` block of the completion (else the last plain fence, else
    the whole text). ``ground_truth`` is either ``{"tests": [{"input": str, "output": str}, ...]}``:
    stdin/stdout, output compared token by token (whitespace-insensitive); or ``{"fn_name": "f",
    "tests": [{"args": [...], "expected": ...}, ...]}``: ``f(*args)`` (``Solution().f`` also found),
    result compared as JSON with float tolerance 1e-6. Each test runs in a fresh sandbox (see
    ``rlvr.rewards.sandbox``) with a ``timeout_s`` wall-clock limit and ``memory_mb`` of address space,
    seeing the standard library and the installed ``packages`` (e.g. ``["numpy"]``) only;
    tests stop (score 0.0) at the first compile error or timeout, or once ``total_timeout_s`` is spent.
    ``correct`` = all tests passed. ``info``: ``passed``, ``total``, per-test ``results`` (None = passed,
    else why not), ``reason`` (the first failure) and ``violations`` (limits hit and escapes tried, as
    the sandbox's supervisor counted them; never text the program wrote). A compile error is decided here,
    before anything runs.
    """
    tests, fn_name = _tests(ground_truth)
    program = code_block(completion)
    bad = compile_error(program)
    if bad:
        why = {
            "passed": 0,
            "total": len(tests),
            "results": [bad],
            "violations": [],
            "reason": f"{bad} on test 0",
        }
        return RewardResult(0.0, correct=False, info=why)
    limits = SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb)
    results: list[str | None] = []
    violations: list[str] = []
    fatal: str | None = None
    deadline = time.monotonic() + total_timeout_s
    for i, test in enumerate(tests):
        left = deadline - time.monotonic()
        if left <= 0:
            fatal = f"total timeout after {total_timeout_s:g} s (ran {i} of {len(tests)} tests)"
            break
        stdin = json.dumps(test.get("args", [])) if fn_name else str(test.get("input", ""))
        run = run_python(
            program,
            stdin,
            fn_name=fn_name,
            limits=replace(limits, timeout_s=min(timeout_s, left)),
            packages=tuple(packages or ()),
        )
        violations += [v for v in run.violations if v not in violations]
        results.append(_check(test, fn_name, run))
        if run.timed_out or run.sandbox_error:
            fatal = f"{results[-1]} on test {i}"
            break
    passed = sum(r is None for r in results)
    score = 0.0 if fatal else passed / len(tests)
    reason = fatal or next((f"{r} on test {i}" for i, r in enumerate(results) if r), None)
    info: dict[str, Any] = {
        "passed": passed,
        "total": len(tests),
        "results": results,
        "violations": violations,
    }
    if reason:
        info["reason"] = reason
    return RewardResult(score, correct=passed == len(tests) and not fatal, info=info)
