"""Runs first inside the sandboxed interpreter: ``python -I -B -c <this source> <config json>``.

Never imported by rlvr; ``sandbox.py`` passes its source text. In order, it: lowers the resource limits,
compiles ``main.py`` from the working directory (exit 3 on failure), drops forbidden directories from
``sys.path``, disables ``_posixsubprocess.fork_exec``, installs an audit hook, then runs the code either
as a script (mode "stdio") or by calling ``fn_name(*args)`` with JSON arguments read from stdin and
printing ``RESULT_MARKER + json(result)`` (mode "call"). Each refusal of the hook is also written to
stderr as ``sandbox: blocked ...`` so the parent can report it even if the code catches the exception.

The audit hook is a best-effort, in-process layer (PEP 578 hooks are not a security boundary); the
kernel-enforced layers (namespaces, uid, rlimits) are set up by ``sandbox.py``.
"""

import builtins
import json
import os
import resource
import sys

RESULT_MARKER = "__rlvr_result__:"
COMPILE_ERROR_EXIT = 3
MISSING_FUNCTION_EXIT = 4

_BLOCKED_EVENTS = frozenset(
    {
        "os.system", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.kill",
        "os.killpg", "signal.pthread_kill", "subprocess.Popen", "resource.setrlimit", "resource.prlimit",
        "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "webbrowser.open",
    }
)  # fmt: skip
_BLOCKED_PREFIXES = ("socket.", "http.", "urllib.", "ftplib.", "smtplib.", "imaplib.", "poplib.", "nntplib.")
_BLOCKED_IMPORTS = frozenset({"_posixsubprocess", "_xxsubinterpreters", "_xxinterpchannels", "_testcapi"})
# event -> (argument positions holding paths written to, positions holding dir_fd)
_WRITE_EVENTS = {
    "os.remove": ((0,), (1,)),
    "os.rmdir": ((0,), (1,)),
    "os.rename": ((0, 1), (2, 3)),
    "os.mkdir": ((0,), (2,)),
    "os.chmod": ((0,), (2,)),
    "os.chown": ((0,), (3,)),
    "os.utime": ((0,), (3,)),
    "os.symlink": ((1,), (2,)),
    "os.link": ((1,), (2, 3)),
    "os.truncate": ((0,), ()),
    "os.setxattr": ((0,), ()),
    "os.removexattr": ((0,), ()),
    "shutil.rmtree": ((0,), (1,)),
    "sqlite3.connect": ((0,), ()),
}
_READ_EVENTS = frozenset({"os.listdir", "os.scandir"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class SandboxViolation(PermissionError):
    """Raised by the audit hook (a PermissionError, so importlib treats a refused directory as empty)."""


def _under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def _install_limits(cfg):
    mb = 1024 * 1024
    limits = [
        (resource.RLIMIT_AS, cfg["memory_mb"] * mb, cfg["memory_mb"] * mb),
        (resource.RLIMIT_CPU, cfg["cpu_s"], cfg["cpu_s"] + 1),
        (resource.RLIMIT_FSIZE, cfg["file_size_mb"] * mb, cfg["file_size_mb"] * mb),
        (resource.RLIMIT_NOFILE, cfg["max_open_files"], cfg["max_open_files"]),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if cfg.get("max_processes"):
        limits.append((resource.RLIMIT_NPROC, cfg["max_processes"], cfg["max_processes"]))
    for res, soft, hard in limits:
        resource.setrlimit(res, (soft, hard))


def _readable(real, rules):
    """The most specific (longest) matching rule decides; a path no rule covers is readable."""
    for root, ok in rules:
        if _under(real, root):
            return ok
    return True


def _deny(what):
    os.write(2, f"\nsandbox: blocked {what}\n".encode(errors="replace"))
    raise SandboxViolation(f"sandbox: blocked {what}")


def _make_hook(workdir, rules):
    deny = _deny

    def resolve(path):
        if isinstance(path, int) or path is None:
            return None
        return os.path.realpath(os.fsdecode(path))

    def check_read(path):
        real = resolve(path)
        if real is not None and not _readable(real, rules):
            deny(f"read of {real}")

    def check_write(path):
        real = resolve(path)
        if real is not None and not _under(real, workdir) and real != "/dev/null":
            deny(f"write to {real}")

    def hook(event, args):
        if event in _BLOCKED_EVENTS or event.startswith(_BLOCKED_PREFIXES):
            deny(event)
        elif event == "import" and args[0] in _BLOCKED_IMPORTS:
            deny(f"import of {args[0]}")
        elif event == "open":
            path, mode, flags = args
            if (mode and any(c in mode for c in "wax+")) or (flags and flags & _WRITE_FLAGS):
                check_write(path)
            else:
                check_read(path)
                real = resolve(path)
                if real is not None and os.path.isdir(real) and not _under(real, workdir):
                    deny(f"open of directory {real}")  # a directory fd would allow dir_fd= writes
        elif event in _WRITE_EVENTS:
            paths, dir_fds = _WRITE_EVENTS[event]
            if any(i < len(args) and args[i] not in (None, -1) for i in dir_fds):
                deny(f"{event} with dir_fd")
            for i in paths:
                check_write(args[i])
        elif event in _READ_EVENTS and args:
            check_read(args[0])

    return hook


def _deny_fork_exec(*args, **kwargs):
    _deny("_posixsubprocess.fork_exec")


def _run_call(code, fn_name):
    payload = json.loads(sys.stdin.read() or "[]")
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # the code's prints must not look like a result
    scope = {"__name__": "solution", "__builtins__": builtins}
    exec(code, scope)
    fn = scope.get(fn_name)
    if fn is None and isinstance(scope.get("Solution"), type):
        fn = getattr(scope["Solution"](), fn_name, None)
    if not callable(fn):
        print(f"sandbox: function {fn_name!r} is not defined", file=sys.stderr)
        sys.exit(MISSING_FUNCTION_EXIT)
    result = fn(**payload) if isinstance(payload, dict) else fn(*payload)
    sys.stdout = real_stdout
    print("\n" + RESULT_MARKER + json.dumps(result, default=repr), flush=True)


def main():
    cfg = json.loads(sys.argv[1])
    del sys.argv[1:]
    _install_limits(cfg)
    workdir = os.path.realpath(os.getcwd())
    try:
        with open("main.py", encoding="utf-8", errors="replace") as f:
            code = compile(f.read(), "main.py", "exec")
    except Exception as exc:
        print(f"sandbox-compile-error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(COMPILE_ERROR_EXIT)
    if cfg["audit"]:
        # readable: the interpreter's own tree and the working directory, even inside a forbidden prefix
        allowed = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, workdir)}
        rules = [(os.path.realpath(p), False) for p in cfg["forbidden_read"]] + [(p, True) for p in allowed]
        rules.sort(key=lambda rule: -len(rule[0]))
        sys.path[:] = [p for p in sys.path if _readable(os.path.realpath(p or "."), rules)]
        import _posixsubprocess

        _posixsubprocess.fork_exec = _deny_fork_exec
        sys.addaudithook(_make_hook(workdir, rules))
    if cfg["mode"] == "call":
        _run_call(code, cfg["fn_name"])
    else:
        exec(code, {"__name__": "__main__", "__builtins__": builtins, "__file__": "main.py"})


main()
