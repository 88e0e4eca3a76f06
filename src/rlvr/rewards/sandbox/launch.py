"""Starting bwrap with the monitor, and keeping one started sandbox in reserve.

A started sandbox is bwrap with the monitor waiting on stdin for its job: nothing of a program runs
until then, and the uid, limits and code all come with the job. So the next run's sandbox can start
while this one runs: ``take`` hands out the reserve (started for the same disk size and packages, by
this process) and starts the next one, which takes bwrap's and the interpreter's start-up off the
time of a call. ``RLVR_SANDBOX_PRESTART=0`` turns the reserve off; ``close_spares`` ends the reserve
(also at exit; and as bwrap runs with ``--die-with-parent``, a killed caller takes it along).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rlvr.rewards.sandbox import bwrap
from rlvr.rewards.sandbox.types import SandboxUnavailable

_Key = tuple[int, tuple[str, ...]]
_SPARES: dict[_Key, Started] = {}
_LOCK = threading.Lock()


@functools.cache
def monitor_source() -> str:
    return Path(__file__).with_name("monitor.py").read_text()


@dataclass
class Started:
    """A bwrap process whose monitor waits for a job; ``status_r`` is the monitor's status pipe."""

    proc: subprocess.Popen[bytes]
    status_r: int
    owner: int = field(default_factory=os.getpid)

    def kill(self) -> None:
        """SIGKILL bwrap: its child (pid 1 of the run's namespace) dies with it, and with it every process.
        Returns once they are all gone: when the last one exits, stdout and stderr reach end of file."""
        for target in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), self.proc.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                target()
        if self.proc.stdin is not None:  # a monitor still waiting for its job reads end of file and exits
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self.proc.wait()
        _wait_for_eof([f for f in (self.proc.stdout, self.proc.stderr) if f is not None], timeout_s=10.0)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        with contextlib.suppress(OSError):
            os.close(self.status_r)


def _wait_for_eof(files: list[IO[bytes]], timeout_s: float) -> None:
    """Read and drop what is left in ``files`` until every one is at end of file (or ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    open_fds = {f.fileno() for f in files if not f.closed}
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], max(0.0, deadline - time.monotonic()))
        for fd in ready:
            try:
                if not os.read(fd, 65536):
                    open_fds.discard(fd)
            except BlockingIOError:
                continue


def start(disk_mb: int, packages: tuple[str, ...]) -> Started:
    """A new sandbox: bwrap running the monitor, which waits for its job on stdin."""
    status_r, status_w = os.pipe()
    cmd = bwrap.command(disk_mb=disk_mb, packages=packages)
    cmd += [os.path.realpath(sys.executable), "-I", "-S", "-B", "-c", monitor_source(), str(status_w)]
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=bwrap.ENV,
            pass_fds=(status_w,),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(status_r)
        raise SandboxUnavailable(f"bwrap could not start ({exc}); {bwrap.HOW_TO_GET_ONE}") from exc
    finally:
        os.close(status_w)
    return Started(proc, status_r)


def _prestart() -> bool:
    return os.environ.get("RLVR_SANDBOX_PRESTART", "1") != "0"


def take(disk_mb: int, packages: tuple[str, ...]) -> Started:
    """A started sandbox for one run: the reserve if it is alive and ours, else a new one; then the next
    reserve is started."""
    key = (disk_mb, packages)
    with _LOCK:
        spare = _SPARES.pop(key, None)
    if spare is not None and (spare.owner != os.getpid() or spare.proc.poll() is not None):
        if spare.owner == os.getpid():
            spare.kill()
        spare = None  # a forked child's copy of its parent's reserve is not its to use
    sandbox = spare or start(disk_mb, packages)
    if _prestart():
        nxt = start(disk_mb, packages)
        with _LOCK:
            old = _SPARES.pop(key, None)
            _SPARES[key] = nxt
        if old is not None and old.owner == os.getpid():
            old.kill()
    return sandbox


def close_spares() -> None:
    """End every reserve sandbox of this process."""
    with _LOCK:
        spares = list(_SPARES.values())
        _SPARES.clear()
    for spare in spares:
        if spare.owner == os.getpid():
            spare.kill()


atexit.register(close_spares)
