"""What every sandbox test checks afterwards: no process of a run alive, no run directory on disk."""

from __future__ import annotations

import glob
import os
import tempfile
import time

import psutil
import pytest

from rlvr.rewards.sandbox import SandboxLimits, SandboxUnavailable, check_bwrap
from rlvr.rewards.sandbox.launch import close_spares

FAST = SandboxLimits(timeout_s=3.0)
SANDBOX_UIDS = range(1_000_000_000, 2_000_000_000)  # the runs' fresh uids (as root)


def bwrap_or_skip() -> None:
    try:
        check_bwrap()
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap cannot run here: {exc}")


def sandbox_processes() -> list[psutil.Process]:
    """Live processes of this test process's runs: a sandbox uid, bwrap or the monitor, descended from
    this process. Descent loses nothing: inside its pid namespace an orphan is re-parented to the
    monitor (a descendant), and the kernel kills the whole namespace when the monitor dies. It keeps out
    the sandboxes of other test processes on the same machine."""
    me = os.getpid()
    found = []
    for p in psutil.process_iter(["uids", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            ours = any(a.pid == me for a in p.parents())
            if ours and (p.info["uids"].real in SANDBOX_UIDS or "bwrap" in cmd or "RESULT_FD" in cmd):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def run_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "rlvr-sandbox-*")))


def assert_nothing_left(dirs_before: set[str], timeout_s: float = 5.0) -> None:
    close_spares()  # the started-in-advance sandbox for the next call is not a run's
    deadline = time.monotonic() + timeout_s
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = sandbox_processes()
    assert left == [], f"processes of a run survived it: {[(p.pid, p.info['cmdline']) for p in left]}"
    assert run_dirs() <= dirs_before, f"run directories left behind: {run_dirs() - dirs_before}"
