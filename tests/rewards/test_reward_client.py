"""RemoteRewardRouter without a server (httpx.MockTransport), local submit, and build_router."""

import json
import socket
import threading
import time

import httpx
import pytest

from rlvr.data.sample import RewardSpec
from rlvr.rewards import (
    RemoteRewardRouter,
    RewardRouter,
    RewardServerError,
    RewardServerUnreachable,
    ScoreRequest,
    build_router,
)
from rlvr.rewards.async_scoring import shutdown, submit


def req(completion, gt="a", verifier="exact_match"):
    return ScoreRequest(completion, RewardSpec(verifier, gt), f"k:{completion}", 3, "src")


def echo_handler(calls):
    """A fake server: scores 1.0 when completion == ground truth; records each call's batch size."""

    def handle(request):
        body = json.loads(request.content)
        calls.append(len(body["requests"]))
        results = [
            {"score": float(r["completion"] == r["spec"]["ground_truth"]), "correct": None,
             "info": {"completion": r["completion"], "key": r["sample_key"]}, "error": None}
            for r in body["requests"]
        ]  # fmt: skip
        return httpx.Response(200, json={"results": results})

    return handle


def mocked(handler, backoff_s=0.001, **kwargs):
    router = RemoteRewardRouter("http://reward.test:9", backoff_s=backoff_s, **kwargs)
    router._client.close()
    router._client = httpx.Client(transport=httpx.MockTransport(handler))
    return router


def test_batches_are_split_sent_concurrently_and_reassembled_in_order():
    calls, lock, in_flight, peak = [], threading.Lock(), [0], [0]
    inner = echo_handler(calls)

    def slow(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return inner(request)

    items = [req(str(i), gt="3") for i in range(10)]
    with mocked(slow, batch_size=3) as router:
        results = router.score(items)
    assert sorted(calls) == [1, 3, 3, 3] and peak[0] > 1
    assert [r.info["completion"] for r in results] == [str(i) for i in range(10)]
    assert [r.score for r in results] == [float(i == 3) for i in range(10)]
    assert results[0].info["key"] == "k:0"


def test_5xx_is_retried_with_backoff_then_succeeds():
    calls, attempts = [], []

    def flaky(request):
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            return httpx.Response(503, text="pool restarting")
        return echo_handler(calls)(request)

    with mocked(flaky, retries=3, backoff_s=0.05) as router:
        assert router.score([req("a")])[0].score == 1.0
    assert len(attempts) == 3  # slept 0.05 s, then 0.1 s
    assert attempts[1] - attempts[0] >= 0.05 and attempts[2] - attempts[1] >= 0.1


def test_5xx_after_every_retry_is_a_server_error_not_unreachable():
    attempts = []

    def broken(request):
        attempts.append(1)
        return httpx.Response(500, text="Internal Server Error")

    with mocked(broken, retries=2) as router, pytest.raises(RewardServerError) as exc:
        router.score([req("a")])
    assert not isinstance(exc.value, RewardServerUnreachable) and len(attempts) == 3
    assert "failed a batch of 1 after 3 attempts over 0.0 s: HTTP 500: Internal Server Error" in str(
        exc.value
    )


def test_4xx_is_not_retried():
    attempts = []

    def reject(request):
        attempts.append(1)
        return httpx.Response(422, json={"detail": "bad spec"})

    with mocked(reject, retries=3) as router, pytest.raises(RewardServerError, match="rejected.*HTTP 422"):
        router.score([req("a")])
    assert len(attempts) == 1


def test_read_timeout_says_what_to_change():
    def hang(request):
        raise httpx.ReadTimeout("timed out", request=request)

    with (
        mocked(hang, retries=3) as router,
        pytest.raises(RewardServerError, match="raise the client's timeout_s"),
    ):
        router.score([req("a")])


def test_wrong_number_of_results_is_an_error():
    def short(request):
        return httpx.Response(200, json={"results": []})

    with mocked(short) as router, pytest.raises(RewardServerError, match="answered 0 results for 2"):
        router.score([req("a"), req("b")])


def test_unreachable_server_error_says_how_to_start_one():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with RemoteRewardRouter(f"http://127.0.0.1:{port}", retries=2, backoff_s=0.01) as router:
        with pytest.raises(RewardServerUnreachable) as exc:
            router.score([req("a")])
        fut = router.submit([req("a")])
        with pytest.raises(RewardServerUnreachable):
            fut.result(timeout=10)
    msg = str(exc.value)
    assert msg.startswith(f"cannot reach the reward server at http://127.0.0.1:{port}: ConnectError")
    assert f"start it with 'rlvr serve-rewards --port {port} --workers 4' or unset reward.server_url" in msg
    assert "(after 3 attempts over 0." in msg and time.monotonic() - start < 5
    assert isinstance(exc.value, ConnectionError)


def test_remote_submit_returns_a_future():
    with mocked(echo_handler([])) as router:
        futures = [router.submit([req("a"), req(str(i))]) for i in range(4)]
        assert [[r.score for r in f.result(timeout=10)] for f in futures] == [[1.0, 0.0]] * 4
    with pytest.raises(RuntimeError, match="closed"):
        router.score([req("a")])


def test_local_submit_runs_in_order_on_one_background_thread():
    router = RewardRouter()
    seen = []
    original = router.score

    def spy(items):
        seen.append((threading.current_thread().name, items[0].completion))
        return original(items)

    router.score = spy
    futures = [submit(router, [req(str(i), gt="1")]) for i in range(3)]
    assert [f.result(timeout=30)[0].score for f in futures] == [0.0, 1.0, 0.0]
    assert [c for _, c in seen] == ["0", "1", "2"]
    assert len({name for name, _ in seen}) == 1 and seen[0][0] != threading.current_thread().name
    shutdown(router)


def test_build_router():
    local = build_router(workers=0, timeout_s=5.0, server_url=None)
    assert isinstance(local, RewardRouter) and (local.max_workers, local.timeout_s) == (0, 5.0)
    with build_router(workers=4, timeout_s=5.0, server_url="http://127.0.0.1:8765/") as remote:
        assert isinstance(remote, RemoteRewardRouter) and remote.url == "http://127.0.0.1:8765"


def test_bad_arguments():
    with pytest.raises(ValueError, match="http://"):
        RemoteRewardRouter("127.0.0.1:8765")
    with pytest.raises(ValueError, match="batch_size >= 1"):
        RemoteRewardRouter("http://127.0.0.1:8765", batch_size=0)
