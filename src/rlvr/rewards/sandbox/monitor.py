"""Runs as pid 1 of the sandbox's pid namespace: ``python -I -S -B -c <this source>``.

Never imported by rlvr: ``runner.py`` passes its text. It reads one job from stdin (8-byte length, then
a ``marshal``-ed ``{"code", "cfg"}`` from the supervisor; the rest of stdin is the program's), writes
``main.py``, forks the worker and waits for it. The worker lowers the rlimits, drops every capability and, when the monitor is root,
switches to the run's fresh uid; then it runs the program (a script, or ``fn_name(*args)`` with the
return value written as JSON to its fd 3). The monitor reports on the status fd, which the worker never
holds: one line ``exit signal left_running cpu_s`` (the worker's exit code or signal, how many processes
were still running when it exited, the CPU time of every process of the run), then what the worker
wrote to its fd 3 (an anonymous memory file, read once every process of the run is dead). Then it kills and reaps them all and exits; as pid 1, its exit
takes down anything left in the namespace. Being pid 1 it ignores every signal its descendants send.
"""

import builtins
import contextlib
import json  # imported while the sandbox waits for its job (see launch.py), not during a call
import marshal
import os
import resource
import sys
import traceback

RESULT_FD = 3
RESULT_CAP = 1 << 20


def _read_exact(fd, n):
    chunks = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("job truncated")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _prctl(option, arg):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg, 0, 0, 0) != 0 and option != 24:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {arg})")


def _drop_privileges(uid):
    """The run's own uid and gid, no groups. Leaving uid 0 clears the permitted, effective and ambient
    capability sets; bwrap set no-new-privs, so no exec (setuid bits, file capabilities) can regain any."""
    if uid is None:
        return
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _limits(cfg):
    mb = 1 << 20
    cpu = int(cfg["cpu_s"]) + 1
    for res, value in [
        (resource.RLIMIT_AS, cfg["memory_mb"] * mb),
        (resource.RLIMIT_FSIZE, cfg["disk_mb"] * mb),
        (resource.RLIMIT_NOFILE, cfg["max_open_files"]),
        (resource.RLIMIT_NPROC, cfg["max_processes"]),
        (resource.RLIMIT_CORE, 0),
    ]:
        resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _harness(code, cfg):
    """The program, as a script or as ``fn_name(*args)``; its value goes to fd 3 as one JSON line."""
    write = os.write
    try:
        if cfg["fn_name"] is None:
            exec(compile(code, "main.py", "exec"), {"__name__": "__main__", "__builtins__": builtins})
            return 0
        dumps = json.dumps
        payload = json.loads(sys.stdin.read() or "[]")
        scope = {"__name__": "solution", "__builtins__": builtins}
        exec(compile(code, "main.py", "exec"), scope)
        fn = scope.get(cfg["fn_name"])
        if fn is None and isinstance(scope.get("Solution"), type):
            fn = getattr(scope["Solution"](), cfg["fn_name"], None)
        if not callable(fn):
            write(RESULT_FD, (dumps({"error_type": "MissingFunction"}) + "\n").encode())
            return 1
        value = fn(**payload) if isinstance(payload, dict) else fn(*payload)
        write(RESULT_FD, (dumps({"value": value}, default=repr) + "\n").encode())
        return 0
    except SystemExit:
        raise
    except BaseException as exc:
        traceback.print_exc()
        write(RESULT_FD, ('{"error_type": "' + type(exc).__name__ + '"}\n').encode())
        return 1


def _worker(job, result_fd, status_fd):
    cfg = job["cfg"]
    os.close(status_fd)
    os.setpgid(0, 0)
    if result_fd != RESULT_FD:
        os.dup2(result_fd, RESULT_FD)
        os.close(result_fd)
    _limits(cfg)
    _drop_privileges(cfg["uid"])
    del job["code"]
    sys.path[:0] = cfg["sys_path"]
    with open("main.py", encoding="utf-8") as f:
        code = f.read()
    try:
        sys.stdout.flush()
        status = _harness(code, cfg)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status & 0xFF)


def _alive_others(group):
    """Live (not zombie) processes of the namespace but pid 1, or of process group ``group`` if given."""
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and entry != "1" and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            n += fields[0] != b"Z" and (group is None or int(fields[2]) == group)
    return n


def _kill_rest(group):
    """SIGKILL every process of the namespace but this one (pid 1), or the worker's process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(-1, 9) if group is None else os.killpg(group, 9)


def main():
    status_fd = int(sys.argv[1])
    job = marshal.loads(_read_exact(0, int.from_bytes(_read_exact(0, 8), "big")))
    cfg = job["cfg"]
    with open("main.py", "w", encoding="utf-8") as f:
        f.write(job["code"])
    if cfg["uid"] is not None:
        os.chown("main.py", cfg["uid"], cfg["uid"])
    else:
        _prctl(4, 0)  # PR_SET_DUMPABLE 0: the same-uid program cannot ptrace or read this process
    result_fd = os.memfd_create("result", 0)  # an anonymous file: nothing on any disk
    pid = os.fork()
    if pid == 0:
        _worker(job, result_fd, status_fd)
    _, wstatus, _ = os.wait4(pid, 0)
    group = None if os.getpid() == 1 else pid  # outside a pid namespace (backend none): its group only
    left = _alive_others(group)
    _kill_rest(group)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = os.WEXITSTATUS(wstatus) if os.WIFEXITED(wstatus) else -1
    sig = os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus) else -1
    head = f"{code} {sig} {left} {usage.ru_utime + usage.ru_stime:.6f}\n".encode()
    os.write(status_fd, head + os.pread(result_fd, RESULT_CAP, 0))
    os.close(status_fd)


main()
