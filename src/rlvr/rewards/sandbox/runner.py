"""The supervisor of a bwrap run: starts it, feeds stdin, caps output, enforces the wall clock, and builds
the ``SandboxResult`` from what the in-sandbox monitor reports on a pipe the program never holds.

Nothing of a run lives on the host's disk (its directory is a tmpfs inside the mount namespace), and every
process of it is in a pid namespace whose init (the monitor) dies with bwrap, which dies with its caller
(``--die-with-parent``): a run cannot outlast the call, a timeout, or a SIGKILLed caller.
"""

from __future__ import annotations

import contextlib
import functools
import json
import marshal
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from rlvr.rewards.sandbox import bwrap
from rlvr.rewards.sandbox.types import SandboxLimits, SandboxResult, SandboxUnavailable


@functools.cache
def _monitor_source() -> str:
    return Path(__file__).with_name("monitor.py").read_text()


def _job(
    code: str,
    stdin: str,
    fn_name: str | None,
    limits: SandboxLimits,
    uid: int | None,
    packages: tuple[str, ...],
) -> bytes:
    cfg = {
        "sys_path": sorted({os.path.dirname(dest) for _, dest in bwrap.package_binds(packages)}),
        "fn_name": fn_name,
        "uid": uid,
        "memory_mb": limits.memory_mb,
        "cpu_s": limits.cpu_limit_s,
        "disk_mb": limits.disk_mb,
        "max_open_files": limits.max_open_files,
        "max_processes": limits.max_processes,
    }
    body = marshal.dumps({"code": code, "cfg": cfg})
    return len(body).to_bytes(8, "big") + body + stdin.encode()


class _Streams:
    """Pumps stdin in and stdout / stderr / status out of one run, within a deadline and an output cap."""

    def __init__(self, proc: subprocess.Popen[bytes], status_r: int, data: bytes, cap: int) -> None:
        self.proc, self.data, self.cap = proc, memoryview(data), cap
        self.out: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray(), "status": bytearray()}
        self.total = 0
        self.sel = selectors.DefaultSelector()
        assert proc.stdin and proc.stdout and proc.stderr
        for name, f in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            os.set_blocking(f.fileno(), False)
            self.sel.register(f.fileno(), selectors.EVENT_READ, name)
        self.sel.register(status_r, selectors.EVENT_READ, "status")
        os.set_blocking(proc.stdin.fileno(), False)
        self.sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")

    def pump(self, deadline: float) -> str:
        """'done' (every stream closed), 'timeout' or 'output'."""
        while self.sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            for key, _ in self.sel.select(min(left, 0.5)):
                if key.data == "stdin":
                    self._write(key.fd)
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    self.sel.unregister(key.fd)
                    continue
                if key.data == "status":
                    self.out["status"] += chunk[: 1 << 21]
                    continue
                self.total += len(chunk)
                self.out[key.data] += chunk[: max(0, self.cap - len(self.out[key.data]))]
                if self.total > self.cap:
                    return "output"
        return "done"

    def _write(self, fd: int) -> None:
        try:
            n = os.write(fd, self.data[:65536])
        except (BrokenPipeError, OSError):
            n = len(self.data)
        self.data = self.data[n:]
        if not self.data:
            self.sel.unregister(fd)
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def close(self) -> None:
        self.sel.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL bwrap: its child (pid 1 of the run's namespace) dies with it, and with it every process."""
    for target in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            target()
    proc.wait()


def run_bwrap(
    code: str, stdin: str, fn_name: str | None, limits: SandboxLimits, packages: tuple[str, ...] = ()
) -> SandboxResult:
    """One run of ``code`` under bubblewrap (see ``rlvr.rewards.sandbox.bwrap``)."""
    uid = random.SystemRandom().randrange(1_000_000_000, 2_000_000_000) if os.geteuid() == 0 else None
    status_r, status_w = os.pipe()
    cmd = [*bwrap.command(disk_mb=limits.disk_mb, packages=packages)]
    cmd += [os.path.realpath(sys.executable), "-I", "-S", "-B", "-c", _monitor_source(), str(status_w)]
    start = time.monotonic()
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
        os.close(status_w)
        raise SandboxUnavailable(f"bwrap could not start ({exc}); {bwrap.HOW_TO_GET_ONE}") from exc
    os.close(status_w)
    streams = _Streams(
        proc, status_r, _job(code, stdin, fn_name, limits, uid, packages), limits.max_output_bytes
    )
    try:
        outcome = streams.pump(start + limits.timeout_s)
    finally:
        _kill(proc)
        streams.close()
        os.close(status_r)
    duration = time.monotonic() - start
    return _result(streams, outcome, proc.returncode, duration, limits)


def _result(
    streams: _Streams, outcome: str, bwrap_rc: int | None, duration: float, limits: SandboxLimits
) -> SandboxResult:
    out, err = (bytes(streams.out[k]).decode(errors="replace") for k in ("stdout", "stderr"))
    res = SandboxResult(None, out, err, outcome == "timeout", duration, limits.timeout_s)
    res.output_exceeded, res.cpu_limit_s = outcome == "output", limits.cpu_limit_s
    if outcome != "done":
        return res
    head, _, result = bytes(streams.out["status"]).partition(b"\n")
    try:
        code, sig, left, cpu = head.split()
        status = {"exit": int(code), "signal": int(sig), "left": int(left), "cpu": float(cpu)}
    except ValueError:
        res.sandbox_error = f"no status from the sandbox (bwrap exit {bwrap_rc}): {err.strip()[-300:]}"
        return res
    res.returncode = status["exit"] if status["exit"] >= 0 else None
    res.signal = status["signal"] if status["signal"] >= 0 else None
    res.left_running, res.cpu_s = int(status["left"]), status["cpu"]
    for line in reversed(result.decode(errors="replace").splitlines()):
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and ("value" in msg or "error_type" in msg):
            res.has_value, res.value = "value" in msg, msg.get("value")
            res.error_type = str(msg["error_type"])[:60] if "error_type" in msg else None
            break
    return res
