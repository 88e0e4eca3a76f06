"""Programs that fight the sandbox (``sandbox_attacks.ATTACKS``), scored by the ``code`` verifier.

Each asserts: score 0 with the expected reason, the secret never in the run's output, nothing received by
the host's listeners, the caller and a bystander process still alive, no process of the run left and no
run directory on disk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from rlvr.rewards import VERIFIERS
from rlvr.rewards.sandbox import SandboxLimits, run_python
from tests.rewards.sandbox_attacks import ATTACKS, LEAK, SECRET, Attack
from tests.rewards.sandbox_helpers import assert_nothing_left, bwrap_or_skip, run_dirs, sandbox_processes

PROJECT = Path(__file__).resolve().parents[2]


class Listeners:
    """Host-side TCP, UDP, Unix and abstract sockets that record anything that reaches them."""

    def __init__(self, tmp: Path) -> None:
        self.received: list[str] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.unix_path = str(tmp / "host.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        self.abstract = f"\0rlvr-attack-{os.getpid()}"
        self.abs_sock = socket.socket(socket.AF_UNIX)
        self.abs_sock.bind(self.abstract)
        for s in (self.tcp, self.unix, self.abs_sock):
            s.listen()
        self.stop = False
        for s in (self.tcp, self.udp, self.unix, self.abs_sock):
            s.settimeout(0.1)
            threading.Thread(target=self._watch, args=(s,), daemon=True).start()

    def _watch(self, s: socket.socket) -> None:
        while not self.stop:
            try:
                if s.type == socket.SOCK_DGRAM:
                    self.received.append(f"udp {s.recv(100)!r}")
                else:
                    conn, _ = s.accept()
                    self.received.append(f"{s.family.name} connection")
                    conn.close()
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self.stop = True
        time.sleep(0.15)
        for s in (self.tcp, self.udp, self.unix, self.abs_sock):
            s.close()


def attack_context(tmp: Path) -> tuple[dict[str, object], Listeners, subprocess.Popen]:
    """What the attacks aim at: a data file holding the secret answer, the secret in this process's
    environment, loopback listeners, and a bystander process. The benchmark builds the same."""
    secret_file = tmp / "train.jsonl"
    secret_file.write_text(f'{{"prompt": "p", "reward": {{"ground_truth": "{SECRET}"}}}}\n')
    os.environ["RLVR_ATTACK_SECRET"] = SECRET  # in the caller's environment, for /proc snooping
    listeners = Listeners(tmp)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    ctx = {
        "secret_file": str(secret_file),
        "secret_prefix": SECRET[:10],
        "project": str(PROJECT),
        "caller_pid": os.getpid(),
        "bystander_pid": bystander.pid,
        "unix_path": listeners.unix_path,
        "abstract": listeners.abstract,
        "tcp_port": listeners.tcp.getsockname()[1],
        "udp_port": listeners.udp.getsockname()[1],
    }
    return ctx, listeners, bystander


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    bwrap_or_skip()
    ctx, listeners, bystander = attack_context(tmp_path_factory.mktemp("attacks"))
    yield ctx, listeners, bystander
    del os.environ["RLVR_ATTACK_SECRET"]
    bystander.kill()
    bystander.wait()
    listeners.close()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.kind for a in ATTACKS])
def test_attack(attack: Attack, context) -> None:
    ctx, listeners, bystander = context
    before = run_dirs()
    program = attack.program.format(**ctx)
    gt = attack.ground_truth or LEAK
    res = VERIFIERS.get("code")(f"```python\n{program}\n```", gt, timeout_s=attack.timeout_s)
    assert res.score == 0.0 and not res.correct, (attack.kind, res.info)
    assert res.info["reason"].startswith(attack.reason), (attack.kind, res.info)
    fn = gt.get("fn_name")
    stdin = "[2, 3]" if fn else ""
    run = run_python(program, stdin, fn_name=fn, limits=SandboxLimits(timeout_s=attack.timeout_s))
    assert SECRET not in run.stdout + run.stderr, attack.kind
    assert "OPENED" not in run.stdout and "WROTE" not in run.stdout, run.stdout
    assert listeners.received == [], listeners.received
    assert bystander.poll() is None and psutil.pid_exists(os.getpid())
    assert_nothing_left(before)


def test_memory_multiplication_by_forking_is_bounded() -> None:
    """Children that each touch 100 MB: at most max_processes of them exist, each under RLIMIT_AS."""
    bwrap_or_skip()
    before = run_dirs()
    code = (
        "import os\nn = 0\nfor _ in range(32):\n    try:\n        pid = os.fork()\n    except OSError:\n"
        "        break\n    if pid == 0:\n        b = bytearray(100 * 2**20)\n        b[::4096] = b'x' * len(b[::4096])\n"
        "        import time; time.sleep(30)\n        os._exit(0)\n    n += 1\nprint(n)"
    )
    run = run_python(code, limits=SandboxLimits(timeout_s=5, max_processes=4, memory_mb=160))
    assert run.stdout.strip() == "3" and run.failure() == "left 3 process(es) running after exit"
    assert_nothing_left(before)


CALLER = textwrap.dedent(
    """
    import sys
    from rlvr.rewards.sandbox import SandboxLimits, run_python
    print("started", flush=True)
    run_python(sys.argv[1], limits=SandboxLimits(timeout_s=60))
    """
)


@pytest.mark.parametrize(
    "program",
    [
        "import time\ntime.sleep(60)",
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n"
        "    os._exit(0)\ntime.sleep(60)",
    ],
    ids=["sleeper", "double-fork daemon"],
)
def test_nothing_outlives_a_sigkilled_caller(program: str) -> None:
    bwrap_or_skip()
    before = run_dirs()
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    caller = subprocess.Popen([sys.executable, "-c", CALLER, program], env=env, stdout=subprocess.PIPE)
    assert caller.stdout is not None and caller.stdout.readline().strip() == b"started"
    deadline = time.monotonic() + 20
    while len([p for p in sandbox_processes() if p.info["uids"].real != 0]) < 1 + ("fork" in program):
        assert time.monotonic() < deadline, "the sandboxed program never started"
        time.sleep(0.05)
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    assert_nothing_left(before, timeout_s=5.0)
