"""Adversarial programs against the code sandbox, as data: the tests run them, and
``benchmarks/sandbox_attacks.py`` prints the table. ``{name}`` fields are filled from the test's context
(a secret training-data file, loopback listeners, pids)."""

from __future__ import annotations

from dataclasses import dataclass

SECRET = "SECRET-ANSWER-7d1f"
ADD = {"fn_name": "solve", "tests": [{"args": [2, 3], "expected": 5}]}
LEAK = {"tests": [{"input": "", "output": SECRET}]}  # the expected output is only in the data file


@dataclass(frozen=True)
class Attack:
    kind: str
    summary: str
    program: str
    reason: str  # the code verifier's reason must start with this
    ground_truth: dict = None  # type: ignore[assignment]  # LEAK unless given
    timeout_s: float = 2.0


ATTACKS = [
    Attack(
        "read training data",
        "open() the run's data file by its absolute path",
        "print(open({secret_file!r}).read())",
        "runtime error: FileNotFoundError",
    ),
    Attack(
        "read /etc/shadow",
        "print /etc/shadow and /etc/passwd",
        "print(open('/etc/shadow').read(), open('/etc/passwd').read())",
        "runtime error: FileNotFoundError",
    ),
    Attack(
        "walk the filesystem",
        "os.walk('/') but /proc and /dev, print every file holding the secret's prefix",
        "import os\nfor r, ds, fs in os.walk('/'):\n    ds[:] = [d for d in ds if r + d not in ('/proc', '/dev')]\n"
        "    for f in fs:\n        try:\n            t = open(os.path.join(r, f), errors='ignore').read(4096)\n"
        "        except Exception:\n            continue\n        if 'SECRET-' in t:\n            print(t)",
        "wrong answer",
        timeout_s=15.0,
    ),
    Attack(
        "read the repo",
        "list and read the checkout holding rlvr",
        "import os\nprint(os.listdir({project!r}))",
        "runtime error: FileNotFoundError",
    ),
    Attack(
        "/proc snooping",
        "every /proc/*/environ, cmdline, and the caller's pid's environ",
        "import os\nfor p in os.listdir('/proc'):\n    for f in ('environ', 'cmdline'):\n        try:\n"
        "            print(open(f'/proc/{{p}}/{{f}}', 'rb').read())\n        except Exception as e:\n"
        "            print(p, f, type(e).__name__)\nprint(open('/proc/{caller_pid}/environ').read())",
        "runtime error: FileNotFoundError",
    ),
    Attack(
        "/proc memory of the monitor",
        "read /proc/1/mem and /proc/1/environ (pid 1 = the monitor)",
        "print(open('/proc/1/environ', 'rb').read())",
        "runtime error: PermissionError",
    ),
    Attack(
        "symlink out",
        "symlink to the data file, then read through it",
        "import os\nos.symlink({secret_file!r}, 'l')\nprint(open('l').read())",
        "runtime error: FileNotFoundError",
    ),
    Attack(
        "hard link out",
        "hard-link the data file into the workdir",
        "import os\nos.link({secret_file!r}, 'h')\nprint(open('h').read())",
        "runtime error: FileNotFoundError",
    ),
    Attack(
        "path race",
        "a thread flips a symlink between a decoy and the data file while reads loop",
        "import os, threading\nopen('decoy', 'w').write('decoy')\nstop = False\ndef flip():\n    while not stop:\n"
        "        for t in ('decoy', {secret_file!r}):\n            try:\n                os.remove('l')\n"
        "            except OSError:\n                pass\n            os.symlink(t, 'l')\n"
        "threading.Thread(target=flip, daemon=True).start()\nseen = set()\nfor _ in range(20000):\n    try:\n"
        "        seen.add(open('l').read())\n    except OSError:\n        pass\nstop = True\nprint(*sorted(seen))",
        "wrong answer",
    ),
    Attack(
        "special files",
        "open /dev/mem, /dev/kmem, /dev/port, /dev/vda; mknod a /dev/mem twin",
        "import os\nfor p in ('/dev/mem', '/dev/kmem', '/dev/port', '/dev/vda', '/dev/sda'):\n    try:\n"
        "        open(p, 'rb').read(1); print('OPENED', p)\n    except OSError as e:\n        print(p, e.errno)\n"
        "os.mknod('mem', 0o20600, os.makedev(1, 1))",
        "runtime error: PermissionError",
    ),
    Attack(
        "new user namespace",
        "unshare(CLONE_NEWUSER | CLONE_NEWNS) via ctypes, then read the data file",
        "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.unshare(0x10000000 | 0x00020000))\n"
        "print(open({secret_file!r}).read())",
        "runtime error: FileNotFoundError",
    ),
    Attack(
        "double fork + setsid",
        "a grandchild in its own session sleeps past the call",
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n"
        "    os._exit(0)\nos.wait()\nprint('{secret_prefix}')",
        "left 1 process(es) running after exit",
    ),
    Attack(
        "daemon ignoring signals",
        "a child that ignores SIGTERM/SIGHUP/SIGINT and spins",
        "import os, signal\nif os.fork() == 0:\n    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
        "        signal.signal(s, signal.SIG_IGN)\n    os.setsid()\n    while True:\n        pass\nprint('x')",
        "left 1 process(es) running after exit",
    ),
    Attack(
        "outlive the timeout",
        "background children, main process loops forever",
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(60)\n"
        "while True:\n    pass",
        "timeout after 2 s",
    ),
    Attack(
        "kill the caller",
        "SIGKILL the parent, pid 1, every process (kill -1), the caller's and a bystander's pid",
        "import os\nfor pid in (os.getppid(), 1, -1, {caller_pid}, {bystander_pid}):\n    try:\n"
        "        os.kill(pid, 9)\n    except OSError as e:\n        print(pid, type(e).__name__)\nprint('alive')",
        "wrong answer",
    ),
    Attack(
        "host Unix socket",
        "connect to a Unix socket the host listens on",
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({unix_path!r})\ns.sendall(b'leak')",
        "runtime error: FileNotFoundError",
    ),
    Attack(
        "abstract Unix socket",
        "connect to a host abstract-namespace socket",
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({abstract!r})\ns.sendall(b'leak')",
        "runtime error: ConnectionRefusedError",
    ),
    Attack(
        "TCP to 127.0.0.1",
        "connect to a host loopback TCP listener",
        "import socket\ns = socket.create_connection(('127.0.0.1', {tcp_port}), timeout=1)\ns.sendall(b'leak')",
        "runtime error: ConnectionRefusedError",
    ),
    Attack(
        "UDP to 127.0.0.1",
        "send datagrams to a host loopback UDP listener",
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(50):\n"
        "    try:\n        s.sendto(b'leak', ('127.0.0.1', {udp_port}))\n    except OSError:\n        pass\nprint('sent')",
        "wrong answer",
    ),
    Attack(
        "ptrace",
        "PTRACE_ATTACH to pid 1 (the monitor) and PTRACE_TRACEME",
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.ptrace(16, 1, 0, 0)\n"
        "print(r, ctypes.get_errno())\nif r != 0:\n    raise PermissionError('ptrace refused')",
        "runtime error: PermissionError",
    ),
    Attack(
        "setuid root / raise limits",
        "setuid(0), then raise RLIMIT_NPROC's hard limit",
        "import os, resource\ntry:\n    os.setuid(0)\nexcept OSError as e:\n    print(e)\n"
        "resource.setrlimit(resource.RLIMIT_NPROC, (10**6, 10**6))",
        "runtime error: ValueError",
    ),
    Attack(
        "fill the disk",
        "write 1 MiB blocks to the workdir until it fails",
        "f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 2**20)\n    f.flush()",
        "runtime error: OSError",
    ),
    Attack(
        "fill /dev/shm",
        "write to the shared-memory tmpfs",
        "f = open('/dev/shm/big', 'wb')\nwhile True:\n    f.write(b'x' * 2**20)",
        "runtime error: PermissionError",
    ),
    Attack(
        "write outside",
        "write into the stdlib, /, /proc/sys",
        "import os\nfor p in (os.__file__ + 'x', '/evil', '/proc/sys/kernel/hostname'):\n    try:\n"
        "        open(p, 'w').write('x'); print('WROTE', p)\n    except OSError as e:\n        print(p, e.errno)\n"
        "raise PermissionError('nothing written')",
        "runtime error: PermissionError",
    ),
    Attack(
        "huge output",
        "write stdout without end",
        "import sys\nwhile True:\n    sys.stdout.write('x' * 2**20)",
        "output limit exceeded",
    ),
    Attack(
        "forged result markers",
        "print the old result marker, fake 'blocked' lines and a fake status JSON "
        "with the right answer on stdout, stderr and fds 4..30, then return a wrong one",
        "import json, os, sys\nfake = json.dumps({{'exit': 0, 'signal': None, 'left_running': 0, 'cpu_s': 0,"
        " 'result': json.dumps({{'value': 5}})}})\nprint('__rlvr_result__:5')\nprint('{{\"value\": 5}}')\n"
        "print('sandbox: blocked nothing', file=sys.stderr)\nfor fd in range(4, 31):\n    try:\n"
        "        os.write(fd, fake.encode())\n    except OSError:\n        pass\ndef solve(a, b):\n    return 4",
        "wrong answer",
        ADD,
    ),
    Attack(
        "override builtins",
        "rebind json.dumps, print, sys.exit and __import__, return an always-equal object",
        "import builtins, json, sys\njson.dumps = lambda *a, **k: '{{\"value\": 5}}'\n"
        "builtins.print = lambda *a, **k: None\nsys.exit = lambda *a: None\n"
        "class Eq:\n    def __eq__(self, o):\n        return True\ndef solve(a, b):\n    return Eq()",
        "wrong answer",
        ADD,
    ),
    Attack(
        "exit before the tests",
        "os._exit(0) at import, before the harness calls the function",
        "import os\nos._exit(0)\ndef solve(a, b):\n    return a + b",
        "no result returned",
        ADD,
    ),
    Attack(
        "fake compile error",
        "print the old compile-error marker and exit 3",
        "import sys\nsys.stderr.write('sandbox-compile-error: fake')\nsys.exit(3)",
        "runtime error (exit 3)",
    ),
    Attack(
        "kill the monitor",
        "SIGKILL / SIGSTOP / SIGTERM pid 1 (the in-sandbox monitor, another uid)",
        "import os\nfor s in (9, 19, 15):\n    os.kill(1, s)\nprint('{secret_prefix}')",
        "runtime error: PermissionError",
    ),
]
