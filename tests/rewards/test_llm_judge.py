"""``llm_judge`` against a stand-in OpenAI-compatible server on loopback (scripted replies per test)."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from rlvr.data.sample import RewardSpec  # noqa: E402
from rlvr.rewards import VERIFIERS, RewardRouter, ScoreRequest, aggregate_metrics  # noqa: E402
from rlvr.rewards.verifiers import judge  # noqa: E402

llm_judge = VERIFIERS.get("llm_judge")


def section(text, name):
    """The text under ``[name]`` in the default question, up to the next blank line."""
    return text.split(f"[{name}]\n", 1)[1].split("\n\n", 1)[0]


def grade_yes_no(body):
    """A judge that says yes when the response contains the reference answer."""
    user = body["messages"][-1]["content"]
    ok = section(user, "Reference answer").lower() in section(user, "Response").lower()
    return 200, "**Yes**" if ok else "No."


class FakeJudge:
    """POST /v1/chat/completions answered by ``self.script(body) -> (status, reply text)``."""

    def __init__(self):
        self.script = grade_yes_no
        self.requests = []  # (json body, headers)
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append((body, dict(request.headers)))
            status, text = self.script(body)
            if status != 200:
                return JSONResponse({"error": {"message": text}}, status_code=status)
            message = {"role": "assistant", "content": text}
            return {"id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="fake-judge", daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "fake judge did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def server():
    with FakeJudge() as s:
        yield s
    judge.close_clients()


@pytest.fixture
def fake(server, monkeypatch):
    for var in ("RLVR_JUDGE_BASE_URL", "RLVR_JUDGE_MODEL", "RLVR_JUDGE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    server.script = grade_yes_no
    server.requests.clear()
    return server


def replies(*texts):
    """A script that answers with ``texts`` in turn, then repeats the last one."""
    it = iter(texts)
    last = [None]

    def script(body):
        last[0] = next(it, last[0])
        return last[0]

    return script


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_yes_no(fake):
    right = llm_judge("I think it is Paris.", "Paris", base_url=fake.base_url)
    assert (right.score, right.correct) == (1.0, True)
    assert right.info == {"judge_reply": "**Yes**", "judge_model": "judge"}
    wrong = llm_judge("Lyon, surely.", "Paris", base_url=fake.base_url + "/")  # trailing slash is fine
    assert (wrong.score, wrong.correct) == (0.0, False)
    assert wrong.info["judge_reply"] == "No."


def test_request_body_and_headers(fake, monkeypatch):
    monkeypatch.setenv("RLVR_JUDGE_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    fake.script = replies((200, "yes"))
    question = "Q: {prompt}\nRef: {ground_truth}\nAns: {completion}\n{not a placeholder} yes or no?"
    llm_judge("x = {ground_truth}", ["4", "four"], model="judge-7b", question=question, prompt="2+2?")
    body, headers = fake.requests[-1]
    assert body == {
        "model": "judge-7b",
        "messages": [
            {
                "role": "user",
                "content": 'Q: 2+2?\nRef: ["4", "four"]\nAns: x = {ground_truth}\n{not a placeholder} yes or no?',
            }
        ],
        "temperature": 0,
        "max_tokens": 512,
    }
    assert headers["authorization"] == "Bearer sk-env"

    monkeypatch.setenv("RLVR_JUDGE_MODEL", "env-model")
    monkeypatch.setenv("RLVR_JUDGE_API_KEY", "rk-env")
    res = llm_judge("Paris", "Paris", mode="yes_no")
    body, headers = fake.requests[-1]
    assert body["model"] == res.info["judge_model"] == "env-model"
    assert headers["authorization"] == "Bearer rk-env"
    user = body["messages"][0]["content"]
    assert section(user, "Reference answer") == "Paris" and section(user, "Response") == "Paris"
    assert 'Answer only "yes" or "no"' in user

    monkeypatch.delenv("RLVR_JUDGE_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    llm_judge("Paris", "Paris")
    assert "authorization" not in fake.requests[-1][1]


def test_score_mode(fake):
    fake.script = replies((200, "7"))
    res = llm_judge("some answer", "ref", base_url=fake.base_url, mode="score_0_10")
    assert (res.score, res.correct) == (pytest.approx(0.7), True)
    assert "integer from 0 to 10" in fake.requests[-1][0]["messages"][0]["content"]
    res = llm_judge("some answer", "ref", base_url=fake.base_url, mode="score_0_10", threshold=8)
    assert (res.score, res.correct) == (pytest.approx(0.7), False)
    fake.script = replies((200, "<think>maybe 2 or 9</think>**Score: 3/10**"))
    res = llm_judge("a", "b", base_url=fake.base_url, mode="score_0_10")
    assert (res.score, res.correct) == (pytest.approx(0.3), False)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retries_then_succeeds(fake, status):
    fake.script = replies((status, "overloaded"), (200, "yes"))
    res = llm_judge("a", "b", base_url=fake.base_url, backoff_s=0.01)
    assert (res.score, res.correct, len(fake.requests)) == (1.0, True, 2)


def test_retries_exhausted_and_client_errors(fake):
    fake.script = replies((500, "down"))
    with pytest.raises(RuntimeError, match=r"HTTP 500 after 3 attempt\(s\)"):
        llm_judge("a", "b", base_url=fake.base_url, retries=2, backoff_s=0.01)
    assert len(fake.requests) == 3
    fake.requests.clear()
    fake.script = replies((401, "bad key"))
    with pytest.raises(RuntimeError, match="HTTP 401"):
        llm_judge("a", "b", base_url=fake.base_url, backoff_s=0.01)
    assert len(fake.requests) == 1  # a 4xx other than 429 is not retried


def test_unparsable_reply_is_an_errored_sample(fake):
    fake.script = replies((200, "The response seems plausible."))
    spec = RewardSpec("llm_judge", "Paris", {"base_url": fake.base_url})
    score_spec = RewardSpec("llm_judge", "Paris", {"base_url": fake.base_url, "mode": "score_0_10"})
    reqs = [ScoreRequest("Paris", spec), ScoreRequest("Paris", score_spec)]
    results = RewardRouter().score(reqs)
    for res in results:
        assert res.error is not None and res.score == 0.0 and res.correct is None
        assert res.error.startswith("llm_judge: ValueError: judge answered 'The response seems plausible.'")
    assert results[0].error.endswith("expected yes or no")
    assert results[1].error.endswith("expected an integer from 0 to 10")
    metrics = aggregate_metrics(reqs, results)
    assert metrics["verifier/llm_judge/error_count"] == 2.0
    assert "verifier/llm_judge/accuracy" not in metrics


def test_unreachable_endpoint_names_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    spec = RewardSpec("llm_judge", "x", {"base_url": url, "retries": 1, "backoff_s": 0.01, "timeout_s": 5})
    (res,) = RewardRouter().score([ScoreRequest("x", spec)])
    assert res.error is not None and res.score == 0.0
    assert f"judge endpoint {url}/chat/completions unreachable after 2 attempt(s)" in res.error


def test_bad_params(monkeypatch):
    monkeypatch.delenv("RLVR_JUDGE_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="needs base_url"):
        llm_judge("a", "b")
    with pytest.raises(ValueError, match="mode must be one of"):
        llm_judge("a", "b", base_url="http://127.0.0.1:1/v1", mode="likert")


def test_shared_client_across_threads(fake):
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: llm_judge(f"answer {i}", str(i), base_url=fake.base_url), range(32))
        )
    assert all(r.correct for r in results) and len(fake.requests) == 32
    clients = [k for k in judge._clients if k[1] == fake.base_url]
    assert len(clients) == 1


@pytest.mark.parametrize(
    ("reply", "yes"),
    [
        ("yes", True),
        ("  Yes.", True),
        ("**YES** - the final answer matches", True),
        ('"yes"', True),
        ("> no", False),
        ("No, it is wrong.", False),
        ("<think>\nyes or no? The answer differs.\n</think>\n\nNo", False),
    ],
)
def test_parse_yes_no(reply, yes):
    assert judge.parse_yes_no(reply) is yes


@pytest.mark.parametrize("reply", ["", "Yesterday", "nope", "The answer is yes", "correct"])
def test_parse_yes_no_rejects(reply):
    with pytest.raises(ValueError, match="expected yes or no"):
        judge.parse_yes_no(reply)


@pytest.mark.parametrize(
    ("reply", "n"),
    [("7", 7), ("Score: 10/10", 10), ("**0**", 0), ("I'd say 15 points, so 9", 9), ("-3 then 4", 4)],
)
def test_parse_score(reply, n):
    assert judge.parse_score(reply) == n


@pytest.mark.parametrize("reply", ["", "excellent", "8.5/10", "11", "gpt4 says good"])
def test_parse_score_rejects(reply):
    with pytest.raises(ValueError, match="expected an integer from 0 to 10"):
        judge.parse_score(reply)
