"""The supervisor of a bwrap run: starts it, feeds stdin, caps output, enforces the wall clock, and builds
the ``SandboxResult`` from what the in-sandbox monitor reports on a pipe the program never holds.

Nothing of a run lives on the host's disk (its directory is a tmpfs inside the mount namespace), and every
process of it is in a pid namespace whose init (the monitor) dies with bwrap, which dies with its caller
(``--die-with-parent``): a run cannot outlast the call, a timeout, or a SIGKILLed caller.
"""

from __future__ import annotations

import json
import marshal
import os
import random
import selectors
import subprocess
import time

from rlvr.rewards.sandbox import bwrap, launch
from rlvr.rewards.sandbox.types import SandboxLimits, SandboxResult


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
        """'done', 'timeout' or 'output'. Done once the monitor closed its status pipe: it has killed and
        reaped every process of the run by then, so what they wrote is all in the pipes already."""
        while self.sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            for key, _ in self.sel.select(min(left, 0.5)):
                if key.data == "stdin":
                    self._write(key.fd)
                    continue
                chunk = os.read(key.fd, 65536)
                if key.data == "status":
                    if chunk:
                        self.out["status"] += chunk[: 1 << 21]
                        continue
                    return "output" if self._drain() else "done"
                if not chunk:
                    self.sel.unregister(key.fd)
                elif self._take(key.data, chunk):
                    return "output"
        return "done"

    def _take(self, name: str, chunk: bytes) -> bool:
        """Keep ``chunk`` of stream ``name`` within the cap; True once the output is over it."""
        self.total += len(chunk)
        self.out[name] += chunk[: max(0, self.cap - len(self.out[name]))]
        return self.total > self.cap

    def _drain(self) -> bool:
        """Read what is left in stdout / stderr without waiting; True if the output is over the cap."""
        for key in list(self.sel.get_map().values()):
            if key.data in ("stdout", "stderr"):
                while True:
                    try:
                        chunk = os.read(key.fd, 65536)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    if self._take(key.data, chunk):
                        return True
        return False

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


def run_bwrap(
    code: str, stdin: str, fn_name: str | None, limits: SandboxLimits, packages: tuple[str, ...] = ()
) -> SandboxResult:
    """One run of ``code`` under bubblewrap (see ``rlvr.rewards.sandbox.bwrap``)."""
    uid = random.SystemRandom().randrange(1_000_000_000, 2_000_000_000) if os.geteuid() == 0 else None
    start = time.monotonic()
    sandbox = launch.take(limits.disk_mb, packages)
    job = _job(code, stdin, fn_name, limits, uid, packages)
    streams = _Streams(sandbox.proc, sandbox.status_r, job, limits.max_output_bytes)
    try:
        outcome = streams.pump(start + limits.timeout_s)
    finally:
        streams.close()
        sandbox.kill()
    duration = time.monotonic() - start
    return _result(streams, outcome, sandbox.proc.returncode, duration, limits)


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
        exit_code, signal_num, res.left_running, res.cpu_s = int(code), int(sig), int(left), float(cpu)
    except ValueError:
        res.sandbox_error = f"no status from the sandbox (bwrap exit {bwrap_rc}): {err.strip()[-300:]}"
        return res
    res.returncode = exit_code if exit_code >= 0 else None
    res.signal = signal_num if signal_num >= 0 else None
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
