"""The reward server end to end on loopback: same results as in-process, retries, timeouts, the CLI."""

import math
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from rlvr.data.sample import RewardSpec
from rlvr.rewards import RemoteRewardRouter, RewardRouter, ScoreRequest
from rlvr.rewards.server import BackgroundServer, serve_main
from rlvr.rewards.wire import to_jsonable

try:  # tests/ may or may not be a package
    from . import reward_server_helpers as helpers
    from . import rewards_test_helpers as router_helpers
except ImportError:
    import reward_server_helpers as helpers
    import rewards_test_helpers as router_helpers

H = helpers.__name__  # verifiers named "<module>:<fn>", importable in the server's workers
ADD = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5", "output": "10"}]}
ADD_OK = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"


def req(verifier, gt=None, completion="x", params=None, weight=1.0, source="default", key="s:0", tokens=5):
    return ScoreRequest(completion, RewardSpec(verifier, gt, params or {}, weight), key, tokens, source)


def comparable(result):
    info = {k: v for k, v in to_jsonable(result.info).items() if k != "latency_s"}
    return result.score, result.correct, result.error, info


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(workers=2, timeout_s=30.0, allow_import_verifiers=True) as s:
        yield s


@pytest.fixture(scope="module")
def remote(server):
    with RemoteRewardRouter(server.url, timeout_s=60, batch_size=4, retries=1, backoff_s=0.05) as r:
        yield r


def test_remote_results_equal_in_process(remote):
    items = [
        req("math", "1/2", r"so \boxed{0.5}", source="gsm"),
        req("math", "8", "#### 7", source="gsm"),
        req("math", "8", "no answer here", source="gsm"),
        req("exact_match", ["Paris", "paris france"], "The Paris.", source="qa"),
        req("exact_match", "Rome", "<answer>Paris</answer>", params={"answer_tag": "answer"}, weight=0.5),
        req("code", ADD, ADD_OK, source="code"),
        req("code", ADD, "```python\nprint(3)\n```", source="code"),
        req("random", key="s1:3"),
        req("length", params={"max_len": 10, "cache_len": 4}, tokens=8),
        req(
            "combined",
            "4",
            r"<think>t</think><answer>\boxed{4}</answer>",
            params={
                "components": [{"verifier": "math", "weight": 0.75}, {"verifier": "format", "weight": 0.25}]
            },
        ),  # fmt: skip
        req("no_such_verifier"),
        req(f"{router_helpers.__name__}:boom"),
    ]
    local = RewardRouter().score(items)
    got = remote.score(items)  # 3 batches of 4, sent concurrently
    assert [comparable(r) for r in got] == [comparable(r) for r in local]
    assert [r.correct for r in got[:7]] == [True, False, False, True, False, True, False]
    assert got[4].score == 0.0 and got[9].score == pytest.approx(1.0)
    assert "unknown verifier 'no_such_verifier'" in got[10].error
    assert got[11].error.endswith("boom: ValueError: bad input") and got[11].score == 0.0
    assert all(r.info["latency_s"] >= 0 for r in got)


def test_submit_and_empty_batch(remote):
    fut = remote.submit([req("exact_match", "a", "a"), req("exact_match", "a", "b")])
    assert [r.score for r in fut.result(timeout=60)] == [1.0, 0.0]
    assert remote.score([]) == []


def test_json_safety_of_ground_truths_and_infos(remote):
    gt = {"box": np.array([0.5, 1.5]), "n": np.int32(3), "t": (1, 2)}
    (res,) = remote.score([req(f"{H}:numpy_info", gt)])
    assert res.error is None and res.score == 0.25 and res.correct is True
    info = res.info
    assert info["array"] == [0, 1, 2] and info["scalar"] == 0.5 and info["flag"] is True
    assert info["pair"] == [1, 2] and info["tags"] == ["a", "b"] and info["4"] == "int key"
    assert info["nan"] == "nan" and info["inf"] == "inf"
    assert info["gt"] == {"box": [0.5, 1.5], "n": 3, "t": [1, 2]}


def test_a_worker_killed_mid_request_is_replaced_and_the_request_retried(server, remote, tmp_path):
    marker = tmp_path / "died"
    items = [req("exact_match", "a", "a")] * 3 + [req(f"{H}:die_once", params={"marker": str(marker)})]
    results = remote.score(items)
    assert marker.exists()  # the first call did run, and killed its worker
    assert [(r.score, r.error) for r in results] == [(1.0, None)] * 4
    stats = remote.metrics()["verifiers"][f"{H}:die_once"]
    assert (stats["requests"], stats["worker_deaths"], stats["retries"], stats["errors"]) == (1, 1, 1, 0)
    deadline = time.monotonic() + 60
    while remote.health()["workers_alive"] < 2:  # the replacement joins the pool
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert remote.health()["status"] == "ok"


def test_a_request_that_kills_two_workers_is_an_error_and_spares_the_others(remote):
    died, ok = remote.score([req(f"{H}:always_die"), req("exact_match", "a", "a")])
    assert died.score == 0.0 and died.correct is None and died.info["worker_died"] is True
    assert died.error == f"{H}:always_die: worker process died (twice; retried once on a fresh worker)"
    assert (ok.score, ok.error) == (1.0, None)


def test_health_and_metrics(server, remote):
    remote.score([req("exact_match", "a", "a"), req("no_such_verifier")])
    health = httpx.get(server.url + "/health").json()
    assert health["workers"] == 2 and health["timeout_s"] == 30.0
    m = remote.metrics()
    em, bad = m["verifiers"]["exact_match"], m["verifiers"]["no_such_verifier"]
    assert em["requests"] >= 1 and em["errors"] == 0 and bad["errors"] >= 1
    assert 0 <= em["latency_p50_s"] <= em["latency_p99_s"] <= em["latency_max_s"]
    assert m["all"]["requests"] == sum(v["requests"] for v in m["verifiers"].values())
    assert m["worker_restarts"] >= 0 and m["batches"] >= 1


def test_malformed_request_is_a_422(server):
    resp = httpx.post(server.url + "/score", json={"requests": [{"spec": {}}]})
    assert resp.status_code == 422 and "completion" in resp.text


def test_timeout_kills_only_the_slow_call():
    with (
        BackgroundServer(workers=1, timeout_s=1.0, allow_import_verifiers=True) as s,
        RemoteRewardRouter(s.url, retries=0) as remote,
    ):
        start = time.monotonic()
        (slow,) = remote.score([req(f"{router_helpers.__name__}:sleepy", params={"seconds": 30})])
        assert time.monotonic() - start < 10
        assert slow.error == "timeout after 1 s" and slow.info["timeout"] is True and slow.score == 0.0
        (fast,) = remote.score([req("exact_match", "a", "a")])  # on the replacement worker
        assert (fast.score, fast.error) == (1.0, None)
        assert remote.metrics()["all"]["timeouts"] == 1


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_main_runs_and_stops_on_sigint():
    port = _free_port()
    cmd = [sys.executable, "-m", "rlvr.rewards.server", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    try:
        while True:  # wait for the server to start
            try:
                health = httpx.get(url + "/health").json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert health["status"] == "ok" and health["workers"] == 1
        with RemoteRewardRouter(url) as remote:
            assert remote.score([req("exact_match", "2", "2")])[0].correct is True
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_serve_main_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        serve_main(["--workers", "0"])
    assert exc.value.code == 2 and "--workers >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        serve_main(["--max-body-mb", "0"])
    assert exc.value.code == 2 and "--max-body-mb > 0" in capsys.readouterr().err


def test_nan_score_survives_the_wire():
    from rlvr.rewards.types import RewardResult
    from rlvr.rewards.wire import result_from_json, result_to_json

    back = result_from_json(result_to_json(RewardResult(float("nan"), None, {"x": (1, np.float32(2))})))
    assert math.isnan(back.score) and back.info == {"x": [1, 2.0]}
    assert os.environ.get("NO_SUCH_VAR") is None
