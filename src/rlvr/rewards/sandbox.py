"""Run untrusted Python (model-written code) in a sandboxed subprocess.

Layers, from always-on to best-available (``isolation()`` probes once per process which kernel layers
work here and records them in ``Isolation.enforced``):

Always:
  * ``python -I -B`` (isolated mode: no user site, no PYTHON* variables, no cwd on sys.path) started
    with ``start_new_session=True``; on the wall-clock timeout (and after every run) the whole process
    group is SIGKILLed.
  * A fresh private temp dir (mode 0700 inside a 0711 parent) as cwd, HOME and TMPDIR; environment
    stripped to PATH, HOME, TMPDIR, locale and 1-thread BLAS settings; removed afterwards.
  * rlimits set in the child before the code runs: RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_FSIZE (also caps
    the captured stdout/stderr, which go to files), RLIMIT_NOFILE, RLIMIT_CORE = 0.
  * An audit hook (``sandbox_prelude.py``) refusing sockets and network modules, subprocess / os.system /
    fork / exec / spawn / kill, ctypes symbol lookup and calls, re-import of ``_posixsubprocess``, writes
    outside the temp dir (open, rename, remove, mkdir, chmod, ...), reads under the forbidden prefixes
    (default: $HOME, ~/.ssh, /root, the project checkout) except the interpreter's own install.
    Audit hooks are not a security boundary (PEP 578), hence the kernel layers below.

Kernel layers, when available:
  * As root: ``unshare --net --pid --fork --kill-child`` (no network interface but loopback; every process
    dies with the namespace's init when the run ends) and ``setpriv`` to a fresh random uid/gid per run
    with no supplementary groups, no-new-privs and an empty capability bounding set. RLIMIT_NPROC is only
    enforced for non-root uids, so it is only set here (``max_processes``): it bounds a fork bomb per run.
    The non-root uid also makes writes outside the temp dir fail in the kernel (except world-writable
    dirs such as /tmp, which the audit hook covers). If the interpreter lives under a directory others
    cannot traverse (e.g. /root/.pyenv), the child keeps CAP_DAC_READ_SEARCH (ambient) so it can read its
    own stdlib; reads are then protected by the audit hook only.
  * As a normal user, where unprivileged user namespaces work: ``unshare --user --map-root-user --net
    --pid --fork --kill-child``; RLIMIT_NPROC then counts this namespace's processes only.
  * Otherwise: only the always-on layers; RLIMIT_NPROC is not set (it would count all the user's
    processes) and fork is stopped by the audit hook only.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RESULT_MARKER = "__rlvr_result__:"  # keep in sync with sandbox_prelude.py
COMPILE_ERROR_EXIT, MISSING_FUNCTION_EXIT = 3, 4


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    timeout_s: float = 5.0  # wall clock, per run
    memory_mb: int = 512  # RLIMIT_AS
    cpu_s: int | None = None  # RLIMIT_CPU; None: ceil(timeout_s) + 1
    max_processes: int = 32  # RLIMIT_NPROC (tasks, threads included); only where the kernel applies it
    file_size_mb: int = 16  # RLIMIT_FSIZE
    max_open_files: int = 64  # RLIMIT_NOFILE
    max_output_bytes: int = 1 << 20  # at most this much of stdout and of stderr is read back


@dataclass
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float
    timeout_s: float

    @property
    def violations(self) -> list[str]:
        """What the audit hook refused (even if the code caught the exception)."""
        return [ln.strip() for ln in self.stderr.splitlines() if ln.startswith("sandbox: blocked")]

    def failure(self) -> str | None:
        """Why the run failed (timeout, compile error, blocked, memory, cpu, crash), or None if it exited 0."""
        if self.timed_out:
            return f"timeout after {self.timeout_s:g} s"
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        if self.returncode == COMPILE_ERROR_EXIT and any("sandbox-compile-error" in ln for ln in lines):
            return "compile error: " + next(ln for ln in lines if "sandbox-compile-error" in ln)[23:]
        if self.returncode == 0:
            return None
        if self.violations:
            return "blocked: " + self.violations[0][len("sandbox: blocked ") :]
        if any("MemoryError" in ln for ln in lines[-3:]):
            return "memory limit exceeded"
        if self.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            return "cpu time limit exceeded"
        if self.returncode == -signal.SIGXFSZ:
            return "file size limit exceeded"
        if self.returncode == MISSING_FUNCTION_EXIT:
            return lines[-1] if lines else "function not defined"
        return f"runtime error (exit {self.returncode}): {lines[-1] if lines else ''}"[:300]


@dataclass(frozen=True)
class Isolation:
    """The kernel layers in use: a command prefix (``{uid}`` filled per run) and what it enforces."""

    name: str
    prefix: tuple[str, ...]
    enforced: frozenset[str]  # subset of {"network", "pid_namespace", "uid", "nproc"}

    def command(self, uid: int) -> list[str]:
        return [part.replace("{uid}", str(uid)) for part in self.prefix]


def _world_traversable(path: str) -> bool:
    p = Path(path).resolve()
    return all(d.stat().st_mode & stat.S_IXOTH for d in [p, *p.parents] if d.is_dir())


def _candidates() -> list[Isolation]:
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    ns = (unshare, "--net", "--pid", "--fork", "--kill-child") if unshare else ()
    out = []
    if os.geteuid() == 0 and setpriv:
        own_tree = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
        cap = "" if all(_world_traversable(p) for p in own_tree) else ",+dac_read_search"
        drop = (setpriv, "--reuid={uid}", "--regid={uid}", "--clear-groups", "--no-new-privs")
        drop += (f"--bounding-set=-all{cap}", f"--inh-caps=-all{cap}")
        drop += (f"--ambient-caps=-all{cap}",) if cap else ()
        if ns:
            kinds = {"network", "pid_namespace", "uid", "nproc"}
            out.append(Isolation("netns+pidns+uid", ns + drop, frozenset(kinds)))
        out.append(Isolation("uid", drop, frozenset({"uid", "nproc"})))
    if unshare:
        user_ns = (unshare, "--user", "--map-root-user", *ns[1:])
        nproc = set() if os.geteuid() == 0 else {"nproc"}  # root mapped to root: RLIMIT_NPROC is ignored
        out.append(Isolation("userns", user_ns, frozenset({"network", "pid_namespace", *nproc})))
    out.append(Isolation("none", (), frozenset()))
    return out


@functools.cache
def isolation() -> Isolation:
    """The strongest isolation that works on this machine (probed once per process)."""
    for cand in _candidates():
        if not cand.prefix:
            return cand
        uid = 1_500_000_000
        check = f"import os, sys; sys.exit(0 if {'uid' not in cand.enforced} or os.getuid() == {uid} else 1)"
        try:
            done = subprocess.run(
                [*cand.command(uid), sys.executable, "-I", "-c", check], capture_output=True, timeout=20
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return cand
    raise AssertionError("unreachable: the 'none' candidate always works")


@functools.cache
def _prelude_source() -> str:
    return Path(__file__).with_name("sandbox_prelude.py").read_text()


def default_forbidden_reads() -> list[str]:
    """$HOME, ~/.ssh, /root and the project checkout holding this file (if it is one)."""
    home = os.path.expanduser("~")
    paths = [home, os.path.join(home, ".ssh"), "/root"]
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").exists() or (parent / ".git").exists():
            paths.append(str(parent))
            break
    return list(dict.fromkeys(paths))


def _remove_tree(path: str) -> None:
    def force(func, p, _exc):  # the code may have chmod-ed its own files; take them back
        os.chmod(os.path.dirname(p), 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, 0o700)
        func(p)

    shutil.rmtree(path, onerror=force)


def _kill_group(proc: subprocess.Popen) -> None:
    for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill()


def run_python(
    code: str,
    stdin: str = "",
    *,
    fn_name: str | None = None,
    limits: SandboxLimits = SandboxLimits(),
    forbidden_read: list[str] | None = None,
    audit: bool = True,
) -> SandboxResult:
    """Run ``code`` as ``main.py`` in a fresh sandbox and return what happened.

    With ``fn_name`` the code is imported (``__name__ == "solution"``) and ``fn_name(*args)`` is called with
    ``args = json.loads(stdin)`` (a dict means keyword arguments); its JSON result follows
    ``RESULT_MARKER`` on stdout (see ``call_result``). ``audit=False`` skips the audit hook, to test
    the kernel layers alone.
    """
    iso = isolation()
    uid = random.SystemRandom().randrange(1_000_000_000, 2_000_000_000)
    cfg = {
        "mode": "call" if fn_name else "stdio",
        "fn_name": fn_name,
        "memory_mb": limits.memory_mb,
        "cpu_s": limits.cpu_s or int(limits.timeout_s) + 1,
        "file_size_mb": limits.file_size_mb,
        "max_open_files": limits.max_open_files,
        "max_processes": limits.max_processes if "nproc" in iso.enforced else None,
        "forbidden_read": default_forbidden_reads() if forbidden_read is None else forbidden_read,
        "audit": audit,
    }
    outer = tempfile.mkdtemp(prefix="rlvr-sandbox-")
    try:
        os.chmod(outer, 0o711)
        work = os.path.join(outer, "work")
        os.mkdir(work, 0o700)
        Path(work, "main.py").write_text(code, encoding="utf-8")
        if "uid" in iso.enforced:
            for p in (work, os.path.join(work, "main.py")):
                os.chown(p, uid, uid)
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        env.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))
        cmd = [*iso.command(uid), sys.executable, "-I", "-B", "-c", _prelude_source(), json.dumps(cfg)]
        out_path, err_path = os.path.join(outer, "stdout"), os.path.join(outer, "stderr")
        start = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=work, env=env, start_new_session=True
            )
            timed_out = False
            try:
                proc.communicate(stdin.encode(), timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(proc)
                proc.wait()
        duration = time.monotonic() - start
        stdout, stderr = (_head(p, limits.max_output_bytes) for p in (out_path, err_path))
        return SandboxResult(proc.returncode, stdout, stderr, timed_out, duration, limits.timeout_s)
    finally:
        _remove_tree(outer)


def _head(path: str, n: int) -> str:
    with open(path, "rb") as f:
        return f.read(n).decode(errors="replace")


def call_result(result: SandboxResult) -> tuple[bool, object]:
    """``(found, value)``: the JSON value after the last ``RESULT_MARKER`` line of a function-call run."""
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                return True, json.loads(line[len(RESULT_MARKER) :])
            except ValueError:
                return False, None
    return False, None
