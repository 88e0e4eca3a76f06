"""``rlvr serve-rewards`` through the console script, as the README writes it, and what it refuses; the
client's retry window across a server that comes up late, and its unreachable message's command."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from rlvr.data.sample import RewardSpec
from rlvr.rewards import RemoteRewardRouter, RewardServerUnreachable, ScoreRequest
from rlvr.rewards.server import BackgroundServer, parse_score_body

PROJECT = Path(__file__).resolve().parents[2]
ADD = {"tests": [{"input": "1 2\n", "output": "3\n"}]}


def _free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise AssertionError("unreachable")


def _console(args: list[str]) -> subprocess.Popen[str]:
    exe = shutil.which("rlvr")
    if exe is None:
        pytest.skip("the rlvr console script is not installed (pip install -e .)")
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}  # the console script imports this checkout
    return subprocess.Popen(
        [exe, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _wait_healthy(url: str, proc: subprocess.Popen[str], timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            health = httpx.get(url + "/health").json()
            if health.get("status") == "ok":
                return health
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return err


def req(verifier: str, gt: object, completion: str, params: dict | None = None) -> ScoreRequest:
    return ScoreRequest(completion, RewardSpec(verifier, gt, params or {}, 1.0), "s:0", 5, "default")


def test_serve_rewards_as_the_readme_writes_it():
    port = _free_port(8765)
    proc = _console(["serve-rewards", "--port", str(port), "--workers", "4", "--max-body-mb", "1"])
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_healthy(url, proc)
        assert (health["workers"], health["workers_alive"]) == (4, 4)
        with RemoteRewardRouter(url) as remote:
            ok, bad = remote.score(
                [
                    req("code", ADD, "```python\nprint(sum(map(int, input().split())))\n```"),
                    req("math", "8", "7"),
                ]
            )
        assert (ok.score, ok.correct, bad.score) == (1.0, True, 0.0)
        big = {
            "requests": [{"completion": "x" * (2 << 20), "spec": {"verifier": "math", "ground_truth": "1"}}]
        }
        resp = httpx.post(url + "/score", json=big)
        assert resp.status_code == 413 and "over this server's limit of 1048576" in resp.text
        one = '{"requests": [{"completion": "x", "spec": {"verifier": "math", "ground_truth": "1", "weight": %s}}]}'
        for bad_number in ("NaN", "Infinity", "-Infinity", "1e999"):
            resp = httpx.post(
                url + "/score", content=one % bad_number, headers={"content-type": "application/json"}
            )
            assert resp.status_code == 422 and "non-finite number" in resp.text, bad_number
        imported = {
            "requests": [{"completion": "x", "spec": {"verifier": "os:system", "ground_truth": "id"}}]
        }
        resp = httpx.post(url + "/score", json=imported)
        assert resp.status_code == 403 and "--allow-import-verifiers" in resp.text
    finally:
        err = _stop(proc)
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_import_verifiers_refused_inside_combined_and_allowed_with_the_flag():
    combined = {
        "requests": [
            {
                "completion": "x",
                "spec": {
                    "verifier": "combined",
                    "params": {"components": [{"verifier": "tests.x:f", "weight": 1}]},
                },
            }
        ]
    }
    with pytest.raises(Exception, match="'tests.x:f'"):
        parse_score_body(httpx.Request("POST", "/", json=combined).content, allow_import_verifiers=False)
    body = parse_score_body(httpx.Request("POST", "/", json=combined).content, allow_import_verifiers=True)
    assert body.requests[0].spec.verifier == "combined"
    with BackgroundServer(workers=1, allow_import_verifiers=True) as server:
        spec = {"verifier": "tests.rewards.rewards_test_helpers:boom", "ground_truth": None}
        resp = httpx.post(server.url + "/score", json={"requests": [{"completion": "x", "spec": spec}]})
        assert resp.status_code == 200 and resp.json()["results"][0]["error"]


def test_client_outlasts_a_server_that_comes_up_late():
    port = _free_port()
    server = BackgroundServer(port=port, workers=1)
    starter = threading.Timer(4.0, server.start)  # a restart takes ~15 s; 4 s keeps the test short
    starter.start()
    try:
        with RemoteRewardRouter(f"http://127.0.0.1:{port}") as remote:  # default retry window
            start = time.monotonic()
            (res,) = remote.score([req("math", "8", "#### 8")])
        assert res.correct is True and time.monotonic() - start >= 3.5
    finally:
        starter.join()
        server.stop()


def test_unreachable_message_gives_a_command_that_works():
    port = _free_port()
    with RemoteRewardRouter(f"http://127.0.0.1:{port}", retry_window_s=0.5) as remote:
        start = time.monotonic()
        with pytest.raises(RewardServerUnreachable) as exc:
            remote.score([req("math", "8", "#### 8")])
        assert 0.4 < time.monotonic() - start < 3
    command = re.search(r"start it with '([^']+)'", str(exc.value)).group(1)
    assert command == f"rlvr serve-rewards --port {port} --workers 4"
    proc = _console(shlex.split(command)[1:])
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        with RemoteRewardRouter(f"http://127.0.0.1:{port}") as remote:
            assert remote.score([req("math", "8", "#### 8")])[0].correct is True
    finally:
        _stop(proc)


def test_a_worker_killed_at_its_timeout_takes_its_sandbox_along():
    """The server kills a worker whose call runs past --timeout-s; the sandboxed program dies with it."""
    from tests.rewards.sandbox_helpers import assert_nothing_left, bwrap_or_skip, run_dirs

    bwrap_or_skip()
    before = run_dirs()
    spin = "```python\nimport os\nif os.fork() == 0:\n    os.setsid()\nwhile True:\n    pass\n```"
    with BackgroundServer(workers=1, timeout_s=1.5) as server, RemoteRewardRouter(server.url) as remote:
        (res,) = remote.score([req("code", ADD, spin, params={"timeout_s": 30, "total_timeout_s": 60})])
        assert res.error == "timeout after 1.5 s" and res.score == 0.0
    assert_nothing_left(before)
