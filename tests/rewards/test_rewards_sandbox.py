"""The sandbox against adversarial code. Every test also checks that nothing is left behind."""

import glob
import os
import tempfile
import time
from pathlib import Path

import pytest

from rlvr.rewards.sandbox import RESULT_MARKER, SandboxLimits, call_result, isolation, run_python

FAST = SandboxLimits(timeout_s=2.0)
PROJECT = Path(__file__).resolve().parents[2]


def _sandbox_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "rlvr-sandbox-*")))


def _sandbox_processes():
    """Live processes running the sandbox prelude (its source holds RESULT_MARKER)."""
    pids = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = Path(d, "cmdline").read_bytes()
            state = Path(d, "stat").read_text().split()[2]
        except OSError:
            continue
        if RESULT_MARKER.encode() in cmd and state != "Z":
            pids.append(int(d[6:]))
    return pids


@pytest.fixture(autouse=True)
def nothing_left_behind():
    before = _sandbox_dirs()
    yield
    assert _sandbox_dirs() == before, "a sandbox temp dir was left behind"
    for _ in range(50):  # killed processes may take a moment to disappear
        if not _sandbox_processes():
            break
        time.sleep(0.05)
    assert _sandbox_processes() == [], "a sandboxed process survived its run"


def test_stdin_stdout_and_function_call():
    run = run_python("a, b = map(int, input().split())\nprint(a + b)", "2 40", limits=FAST)
    assert (run.returncode, run.stdout.strip(), run.failure()) == (0, "42", None)
    run = run_python(
        "def add(a, b):\n    print('noise')\n    return [a + b]", "[1, 2]", fn_name="add", limits=FAST
    )
    assert call_result(run) == (True, [3])
    run = run_python(
        "class Solution:\n    def f(self, x):\n        return x * 2", '{"x": 4}', fn_name="f", limits=FAST
    )
    assert call_result(run) == (True, 8)
    run = run_python("x = 1", "[]", fn_name="missing", limits=FAST)
    assert "not defined" in run.failure()


def test_runs_in_a_private_dir_with_stripped_env():
    code = "import os\nprint(os.getcwd() == os.environ['HOME'], sorted(os.listdir('.')), 'RLVR_SECRET' in os.environ)"
    os.environ["RLVR_SECRET"] = "x"
    try:
        run = run_python(code, limits=FAST)
    finally:
        del os.environ["RLVR_SECRET"]
    assert run.stdout.split() == ["True", "['main.py']", "False"]
    run = run_python("open('scratch.txt', 'w').write('ok'); print(open('scratch.txt').read())", limits=FAST)
    assert run.stdout.strip() == "ok"


def test_compile_error():
    run = run_python("def f(:\n  pass", limits=FAST)
    assert run.failure().startswith("compile error: SyntaxError")


def test_infinite_loop_times_out_and_is_killed():
    start = time.monotonic()
    run = run_python("while True:\n    pass", limits=SandboxLimits(timeout_s=1.0))
    assert run.timed_out and run.failure() == "timeout after 1 s"
    assert time.monotonic() - start < 5


def test_memory_bomb():
    run = run_python("x = bytearray(4 * 1024**3)", limits=FAST)
    assert run.failure() == "memory limit exceeded"
    run = run_python("xs = []\nwhile True:\n    xs.append(' ' * 10**7)", limits=FAST)
    assert run.failure() == "memory limit exceeded"


def test_fork_and_subprocess_are_blocked():
    for code in [
        "import os\nwhile True:\n    os.fork()",
        "import subprocess\nsubprocess.run(['true'])",
        "import os\nos.system('true')",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()",
        "import ctypes\nctypes.CDLL(None).fork()",
        "import _posixsubprocess\n_posixsubprocess.fork_exec()",
    ]:
        run = run_python(code, limits=FAST)
        assert run.returncode != 0 and run.failure().startswith("blocked"), (code, run.stderr[-300:])


def test_kernel_bounds_forks_without_the_audit_hook():
    """RLIMIT_NPROC (enforced per run) stops forks even when the in-process hook is off."""
    if "nproc" not in isolation().enforced or "pid_namespace" not in isolation().enforced:
        pytest.skip(f"isolation {isolation().name!r} does not bound processes in the kernel")
    bounded = (
        "import os, time\nn = 0\nfor _ in range(64):\n    try:\n        pid = os.fork()\n"
        "    except OSError:\n        continue\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
        "    n += 1\nprint(n)"
    )
    run = run_python(bounded, limits=SandboxLimits(timeout_s=5, max_processes=8), audit=False)
    assert run.returncode == 0 and 0 < int(run.stdout) < 8  # the sleeping children die with the run
    # containment proven: now a real fork bomb, bounded by the same limit and killed at the timeout
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    run = run_python(bomb, limits=SandboxLimits(timeout_s=1.5, max_processes=8), audit=False)
    assert run.timed_out


def test_writing_outside_the_dir_is_blocked(tmp_path):
    target = tmp_path / "evil.txt"
    for code in [
        f"open({str(target)!r}, 'w').write('x')",
        f"import os\nos.open({str(target)!r}, os.O_CREAT | os.O_WRONLY)",
        f"import shutil\nshutil.copy('main.py', {str(target)!r})",
        "import os\nfd = os.open('/tmp', os.O_RDONLY)\nos.open('evil', os.O_CREAT | os.O_WRONLY, dir_fd=fd)",
        "import os\nos.rename('main.py', '../main.py')",
    ]:
        run = run_python(code, limits=FAST)
        assert run.failure().startswith("blocked"), (code, run.stderr[-300:])
    assert not target.exists()
    if "uid" in isolation().enforced:  # and the kernel refuses it too, hook or not
        run = run_python(f"open({str(PROJECT / 'evil.txt')!r}, 'w')", limits=FAST, audit=False)
        assert "Permission denied" in run.stderr
        assert not (PROJECT / "evil.txt").exists()


def test_reading_secrets_and_the_project_is_blocked():
    ssh_key = Path.home() / ".ssh" / "id_rsa"
    for code in [
        f"print(open({str(ssh_key)!r}).read())",
        f"print(open({str(PROJECT / 'pyproject.toml')!r}).read())",
        f"import os\nprint(os.listdir({str(PROJECT)!r}))",
        "import os\nprint(os.listdir('/root'))",
    ]:
        run = run_python(code, limits=FAST)
        assert run.failure().startswith("blocked: read of"), (code, run.stderr[-300:])
        assert run.stdout == ""
    run = run_python("import rlvr", limits=FAST)  # the checkout is not on the sandbox's sys.path
    assert "No module named 'rlvr'" in run.stderr


def test_network_is_blocked():
    for code in [
        "import socket\nsocket.socket()",
        "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)",
        "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=1)",
    ]:
        run = run_python(code, limits=FAST)
        assert run.failure().startswith("blocked"), (code, run.stderr[-300:])
    if "network" in isolation().enforced:  # no route even without the hook
        code = "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)"
        run = run_python(code, limits=FAST, audit=False)
        assert "unreachable" in run.stderr.lower()


def test_violation_is_reported_even_if_caught():
    code = "try:\n    import socket; socket.socket()\nexcept Exception:\n    pass\nprint('done')"
    run = run_python(code, limits=FAST)
    assert run.failure() is None and run.stdout.strip() == "done"
    assert run.violations == ["sandbox: blocked socket.__new__"]


def test_output_is_capped():
    run = run_python("import sys\nsys.stdout.write('x' * 10**6)", limits=SandboxLimits(max_output_bytes=1000))
    assert len(run.stdout) == 1000
    run = run_python(
        "import sys\nwhile True:\n    sys.stdout.write('x' * 10**6)", limits=SandboxLimits(file_size_mb=1)
    )
    assert not run.timed_out and run.failure() is not None
