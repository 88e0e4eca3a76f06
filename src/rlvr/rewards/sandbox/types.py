"""What a sandboxed run is given (``SandboxLimits``) and what the supervisor saw of it (``SandboxResult``).

Every field of ``SandboxResult`` but ``stdout``, ``stderr`` and ``value`` is measured by the supervisor
(exit status, signal, timers, byte counts, the process table of the run's namespace): the program can
print anything, it cannot change its score, its reason or its violation counts.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any


class SandboxUnavailable(RuntimeError):
    """No sandbox backend can run here; the message says how to get one."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run (the whole run, every process of it, unless noted)."""

    timeout_s: float = 5.0  # wall clock, start-up included
    memory_mb: int = (
        512  # address space per process (RLIMIT_AS); the run's bound is memory_mb * max_processes
    )
    cpu_s: float | None = None  # CPU time of all the run's processes together; None: timeout_s
    max_processes: int = 16  # processes and threads of the run at once (RLIMIT_NPROC of its own uid)
    disk_mb: int = 16  # the writable tmpfs (also RLIMIT_FSIZE per file)
    max_open_files: int = 64  # RLIMIT_NOFILE per process
    max_output_bytes: int = 1 << 20  # stdout + stderr together; past it the run is killed

    @property
    def cpu_limit_s(self) -> float:
        return self.timeout_s if self.cpu_s is None else self.cpu_s


@dataclass
class SandboxResult:
    """What happened to one run, as the supervisor saw it."""

    returncode: int | None  # the program's exit code; None if it died by a signal or never finished
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float
    timeout_s: float
    signal: int | None = None  # the signal that killed the program's main process
    output_exceeded: bool = False
    cpu_s: float = 0.0  # CPU time of every process of the run (reaped by the in-sandbox monitor)
    cpu_limit_s: float = 0.0
    left_running: int = 0  # processes still alive when the main one exited (all killed)
    error_type: str | None = None  # exception type name the harness saw (program-side; only names a failure)
    value: Any = None  # the function's return value (call mode), as JSON
    has_value: bool = False
    backend: str = "bwrap"
    sandbox_error: str | None = None  # the sandbox itself failed (not the program)
    notes: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        """Limits the run hit and escapes it tried, as the supervisor counted them."""
        out = []
        if self.timed_out:
            out.append(f"wall time limit ({self.timeout_s:g} s)")
        if self.output_exceeded:
            out.append("output limit")
        if self.cpu_s > self.cpu_limit_s > 0 or self.signal == signal.SIGXCPU:
            out.append(f"cpu time limit ({self.cpu_limit_s:g} s)")
        if self.signal == signal.SIGXFSZ:
            out.append("file size limit")
        if self.left_running:
            out.append(f"{self.left_running} process(es) left running after exit (killed)")
        return out

    def failure(self) -> str | None:
        """Why the run failed, or None if its main process exited 0 within every limit."""
        if self.sandbox_error:
            return f"sandbox error: {self.sandbox_error}"
        if self.timed_out:
            return f"timeout after {self.timeout_s:g} s"
        if self.output_exceeded:
            return "output limit exceeded"
        if self.signal == signal.SIGXCPU or self.cpu_s > self.cpu_limit_s > 0:
            return "cpu time limit exceeded"
        if self.signal == signal.SIGXFSZ:
            return "file size limit exceeded"
        if self.signal is not None:
            return f"killed by signal {signal.Signals(self.signal).name}"
        if self.left_running:
            return f"left {self.left_running} process(es) running after exit"
        if self.returncode == 0:
            return None
        if self.error_type == "MissingFunction":
            return "function not defined"
        if self.error_type == "MemoryError":
            return "memory limit exceeded"
        if self.error_type:
            return f"runtime error: {self.error_type}"
        return f"runtime error (exit {self.returncode})"
