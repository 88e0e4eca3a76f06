"""The bwrap sandbox: what a run sees, its limits, and the six classic attacks. Every test also checks that
no process of a run survives it and no run directory stays on disk (``sandbox_helpers``)."""

import os
import time
from pathlib import Path

import pytest

from rlvr.rewards.sandbox import SandboxLimits, SandboxUnavailable, call_result, run_python
from tests.rewards.sandbox_helpers import FAST, assert_nothing_left, bwrap_or_skip, run_dirs

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def nothing_left_behind():
    bwrap_or_skip()
    before = run_dirs()
    yield
    assert_nothing_left(before)


def test_stdin_stdout_and_function_call():
    run = run_python("a, b = map(int, input().split())\nprint(a + b)", "2 40", limits=FAST)
    assert (run.returncode, run.stdout.strip(), run.failure(), run.violations) == (0, "42", None, [])
    run = run_python(
        "def add(a, b):\n    print('noise')\n    return [a + b]", "[1, 2]", fn_name="add", limits=FAST
    )
    assert call_result(run) == (True, [3])
    run = run_python(
        "class Solution:\n    def f(self, x):\n        return x * 2", '{"x": 4}', fn_name="f", limits=FAST
    )
    assert call_result(run) == (True, 8)
    run = run_python("x = 1", "[]", fn_name="missing", limits=FAST)
    assert run.failure() == "function not defined" and call_result(run) == (False, None)


def test_what_the_program_sees():
    code = (
        "import os, sys\n"
        "print(os.getcwd(), os.environ['HOME'], os.listdir('.'), sorted(os.environ))\n"
        "print(os.getuid() != 0, open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
        "print(sorted(os.listdir('/')), sorted(os.listdir('/proc'))[:3])\n"
        "open('scratch.txt', 'w').write('ok'); print(open('/tmp/scratch.txt').read())\n"
        "import importlib.util; print(importlib.util.find_spec('numpy'), importlib.util.find_spec('json') is not None)"
    )
    os.environ["RLVR_SECRET"] = "x"
    try:
        run = run_python(code, limits=FAST)
    finally:
        del os.environ["RLVR_SECRET"]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("/sandbox /sandbox ['main.py']") and "RLVR_SECRET" not in lines[0]
    assert lines[1] == "True 0000000000000000"  # an unprivileged uid with no capabilities
    assert lines[2].startswith("['dev', 'lib") and "'home'" not in lines[2] and "'etc'" not in lines[2]
    assert lines[2].endswith("['1', '2', 'acpi']")  # its own /proc: the monitor (1) and the program (2)
    assert lines[3:] == ["ok", "None True"]  # writable tmpfs; stdlib only, no site-packages


def test_allowed_packages_are_importable():
    pytest.importorskip("numpy")
    code = "import numpy\nprint(int(numpy.arange(4).sum()))"
    assert run_python(code, limits=FAST).failure() == "runtime error: ModuleNotFoundError"
    assert run_python(code, limits=FAST, packages=("numpy",)).stdout.strip() == "6"


def test_compile_error_and_exceptions():
    assert run_python("def f(:\n  pass", limits=FAST).failure() == "runtime error: SyntaxError"
    assert run_python("raise KeyError(1)", limits=FAST).failure() == "runtime error: KeyError"
    assert run_python("import sys; sys.exit(3)", limits=FAST).failure() == "runtime error (exit 3)"


def test_infinite_loop_times_out_and_is_killed():
    start = time.monotonic()
    run = run_python("while True:\n    pass", limits=SandboxLimits(timeout_s=1.0))
    assert run.timed_out and run.failure() == "timeout after 1 s"
    assert run.violations == ["wall time limit (1 s)"]
    assert time.monotonic() - start < 3


def test_cpu_time_of_the_whole_run_is_limited():
    """Four processes spinning 0.6 s each: 2.4 s of CPU against a 1 s budget, within the wall clock."""
    code = (
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        break\n"
        "end = time.process_time() + 0.6\nwhile time.process_time() < end:\n    pass\n"
        "try:\n    os.wait()\n    os.wait()\n    os.wait()\nexcept ChildProcessError:\n    pass"
    )
    run = run_python(code, limits=SandboxLimits(timeout_s=20, cpu_s=1.0))
    assert run.failure() == "cpu time limit exceeded" and run.cpu_s > 1.0
    assert "cpu time limit (1 s)" in run.violations


# ---- the six classic attacks -------------------------------------------------------------------------


def test_memory_bomb():
    run = run_python("x = bytearray(4 * 1024**3)", limits=FAST)
    assert run.failure() == "memory limit exceeded"
    run = run_python("xs = []\nwhile True:\n    xs.append(' ' * 10**7)", limits=FAST)
    assert run.failure() == "memory limit exceeded"


def test_fork_bomb_is_bounded_and_killed():
    bounded = (
        "import os, time\nn = 0\nfor _ in range(64):\n    try:\n        pid = os.fork()\n"
        "    except OSError:\n        continue\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
        "    n += 1\nprint(n)"
    )
    run = run_python(bounded, limits=SandboxLimits(timeout_s=5, max_processes=8))
    assert run.stdout.strip() == "7"  # RLIMIT_NPROC of the run's own uid: 8 processes, the program included
    assert run.left_running == 7 and run.failure() == "left 7 process(es) running after exit"
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    run = run_python(bomb, limits=SandboxLimits(timeout_s=1.5, max_processes=8))
    assert run.timed_out and run.failure() == "timeout after 1.5 s"


def test_subprocesses_stay_inside():
    for code in [
        "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'id'])",
        "import os\nos.system('cat /etc/passwd')",
        "import os\nos.execv('/usr/bin/env', ['env'])",
    ]:
        run = run_python(code, limits=FAST)
        assert "root" not in run.stdout and "uid=" not in run.stdout, code
    run = run_python(
        "import multiprocessing as m\np = m.Process(target=print, args=('hi',))\np.start(); p.join()",
        limits=FAST,
    )
    assert run.stdout.strip() == "hi" and run.failure() is None  # forking python itself works, inside


def test_writing_outside_the_dir_fails(tmp_path):
    target = tmp_path / "evil.txt"
    stdlib = Path(os.__file__).parent
    for code in [
        f"open({str(target)!r}, 'w').write('x')",
        f"open({str(PROJECT / 'evil.txt')!r}, 'w').write('x')",
        f"open({str(stdlib / 'evil.py')!r}, 'w').write('x')",
        "open('/evil.txt', 'w').write('x')",
        "import os\nos.rename('main.py', '/main.py')",
    ]:
        run = run_python(code, limits=FAST)
        assert run.failure() in (
            "runtime error: FileNotFoundError",
            "runtime error: PermissionError",
            "runtime error: OSError",
        ), (code, run.stderr[-300:])
    assert not target.exists() and not (PROJECT / "evil.txt").exists() and not (stdlib / "evil.py").exists()


def test_reading_secrets_and_the_project_fails():
    ssh_dir = Path.home() / ".ssh"
    for code in [
        f"print(open({str(ssh_dir / 'id_rsa')!r}).read())",
        f"print(open({str(PROJECT / 'pyproject.toml')!r}).read())",
        f"import os\nprint(os.listdir({str(PROJECT)!r}))",
        "import rlvr",
    ]:
        run = run_python(code, limits=FAST)
        assert run.failure() in ("runtime error: FileNotFoundError", "runtime error: ModuleNotFoundError"), (
            code,
            run.stderr,
        )
        assert run.stdout == ""
    # the home directory shows at most the path down to the interpreter, never its other contents
    home = str(Path.home())
    run = run_python(
        f"import os\nprint(sorted(os.listdir({home!r})) if os.path.isdir({home!r}) else [])", limits=FAST
    )
    visible = eval(run.stdout)
    on_the_way = [
        p for p in visible if os.path.realpath(os.sys.executable).startswith(os.path.join(home, p) + "/")
    ]
    assert visible == on_the_way and ".ssh" not in visible


def test_network_is_unreachable():
    run = run_python("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)", limits=FAST)
    assert run.failure() == "runtime error: OSError" and "unreachable" in run.stderr.lower()
    run = run_python("import socket\nprint([n for _, n in socket.if_nameindex()])", limits=FAST)
    assert run.stdout.strip() == "['lo']"


def test_output_is_capped():
    start = time.monotonic()
    run = run_python(
        "import sys\nwhile True:\n    sys.stdout.write('x' * 10**6)",
        limits=SandboxLimits(max_output_bytes=1000),
    )
    assert run.failure() == "output limit exceeded" and len(run.stdout) == 1000
    assert time.monotonic() - start < 3 and run.violations == ["output limit"]


def test_unknown_backend_and_missing_fusion_url_are_explained(monkeypatch):
    monkeypatch.setenv("RLVR_SANDBOX", "docker")
    with pytest.raises(SandboxUnavailable, match="valid: bwrap, sandbox_fusion, none"):
        run_python("print(1)")
    monkeypatch.setenv("RLVR_SANDBOX", "sandbox_fusion")
    monkeypatch.delenv("RLVR_SANDBOX_URL", raising=False)
    with pytest.raises(SandboxUnavailable, match="reward.sandbox_url"):
        run_python("print(1)")
