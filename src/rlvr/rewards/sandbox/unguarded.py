"""Backend ``none``: the program runs as this user, in a temp dir, with rlimits only. Unsafe by design.

Each run's directory is ``$TMPDIR/rlvr-sandbox-<owner pid>-*`` and is removed when the run ends; the first
run in a process also removes directories whose owner process is gone (a SIGKILLed caller's).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

from rlvr.rewards.sandbox.launch import monitor_source
from rlvr.rewards.sandbox.runner import _job, _result, _Streams
from rlvr.rewards.sandbox.types import SandboxLimits, SandboxResult

PREFIX = "rlvr-sandbox-"
WARNING = (
    "reward.sandbox=none: model-written code runs UNGUARDED as this user (it can read, write and delete "
    "what you can, and reach the network); use reward.sandbox=bwrap or sandbox_fusion"
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_dirs(root: str | None = None) -> list[str]:
    """Remove run directories whose owner process is gone; returns what was removed."""
    removed = []
    for path in glob.glob(os.path.join(root or tempfile.gettempdir(), PREFIX + "*")):
        owner = os.path.basename(path)[len(PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not _pid_alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@functools.cache
def _first_use() -> None:
    warnings.warn(WARNING, RuntimeWarning, stacklevel=4)
    print(f"rlvr: WARNING: {WARNING}", file=sys.stderr)
    sweep_stale_dirs()


def run_unguarded(code: str, stdin: str, fn_name: str | None, limits: SandboxLimits) -> SandboxResult:
    _first_use()
    work = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    status_r, status_w = os.pipe()
    env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    cmd = [sys.executable, "-I", "-S", "-B", "-c", monitor_source(), str(status_w)]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=work,
            env=env,
            pass_fds=(status_w,),
            start_new_session=True,
        )
        os.close(status_w)
        streams = _Streams(
            proc, status_r, _job(code, stdin, fn_name, limits, None, ()), limits.max_output_bytes
        )
        try:
            outcome = streams.pump(start + limits.timeout_s)
        finally:
            for kill in (lambda: os.killpg(proc.pid, 9), proc.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill()
            proc.wait()
            streams.close()
        result = _result(streams, outcome, proc.returncode, time.monotonic() - start, limits)
        result.backend = "none"
        return result
    finally:
        os.close(status_r)
        shutil.rmtree(work, ignore_errors=True)
