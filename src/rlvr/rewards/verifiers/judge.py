"""``llm_judge``: ask an OpenAI-compatible chat-completions endpoint to grade a completion.

Works with any server that speaks ``POST {base_url}/chat/completions`` (vLLM, SGLang, llama.cpp, TGI,
OpenAI itself). httpx is imported on first use; one pooled ``httpx.Client`` per base URL (and process)
is shared by all threads.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from rlvr.rewards.types import VERIFIERS, RewardResult

if TYPE_CHECKING:
    import httpx

MODES = ("yes_no", "score_0_10")

DEFAULT_QUESTIONS = {
    "yes_no": (
        "You are grading a response against a reference answer.\n\n"
        "[Question]\n{prompt}\n\n"
        "[Reference answer]\n{ground_truth}\n\n"
        "[Response]\n{completion}\n\n"
        "Is the response correct given the reference answer? Judge the final answer only, not its "
        'style or length. Answer only "yes" or "no".'
    ),
    "score_0_10": (
        "You are grading a response against a reference answer.\n\n"
        "[Question]\n{prompt}\n\n"
        "[Reference answer]\n{ground_truth}\n\n"
        "[Response]\n{completion}\n\n"
        "How correct is the response given the reference answer, on a scale from 0 (wrong) to 10 "
        "(fully correct)? Answer only with a single integer from 0 to 10."
    ),
}

_PLACEHOLDER = re.compile(r"\{(completion|ground_truth|prompt)\}")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_LEADING_JUNK = re.compile(r"^[\s\W_]+")  # whitespace, punctuation, markdown (**, `, #, >, -, quotes)
_YES_NO = re.compile(r"(yes|no)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)(?!\w)")

_clients: dict[tuple[int, str], httpx.Client] = {}
_clients_lock = threading.Lock()


def _client(base_url: str) -> httpx.Client:
    """The shared client for ``base_url`` in this process (created on first use; thread-safe)."""
    key = (os.getpid(), base_url)  # a forked child must not reuse its parent's sockets
    client = _clients.get(key)
    if client is not None and not client.is_closed:
        return client
    with _clients_lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            import httpx

            client = httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
            _clients[key] = client
        return client


def close_clients() -> None:
    """Close every pooled judge client (they are re-created on the next call)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def render_question(template: str, completion: str, ground_truth: Any, prompt: str = "") -> str:
    """``template`` with ``{completion}``, ``{ground_truth}`` and ``{prompt}`` filled in one pass.

    Other braces are kept as written, and a placeholder inside a substituted value is not expanded. A
    ground truth that is not a string is written as JSON (``None`` as an empty string).
    """
    if ground_truth is None:
        gt = ""
    elif isinstance(ground_truth, str):
        gt = ground_truth
    else:
        gt = json.dumps(ground_truth, ensure_ascii=False, default=str)
    values = {"completion": completion, "ground_truth": gt, "prompt": prompt or ""}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _visible(reply: str) -> str:
    return _THINK.sub("", reply).strip()


def parse_yes_no(reply: str) -> bool:
    """True for a reply starting with "yes", False for "no" (case-insensitive, after dropping a
    ``<think>`` block and leading whitespace / punctuation / markdown); otherwise ValueError."""
    m = _YES_NO.match(_LEADING_JUNK.sub("", _visible(reply)))
    if m is None:
        raise ValueError(f"judge answered {reply[:200]!r}; expected yes or no")
    return m.group(1).lower() == "yes"


def parse_score(reply: str) -> int:
    """The first integer in 0..10 in the reply (after dropping a ``<think>`` block); ValueError if none.

    Integers outside 0..10 are skipped; a decimal number met first (``8.5``) is an error rather than
    being read as some other number of the reply.
    """
    for m in _NUMBER.finditer(_visible(reply)):
        token = m.group(1)
        if "." in token:
            break
        if 0 <= int(token) <= 10:
            return int(token)
    raise ValueError(f"judge answered {reply[:200]!r}; expected an integer from 0 to 10")


def _post(
    base_url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    timeout_s: float,
    retries: int,
    backoff_s: float,
) -> dict[str, Any]:
    """POST ``body`` to ``{base_url}/chat/completions``, retrying connection errors, timeouts, 429 and
    5xx up to ``retries`` times with backoff ``backoff_s * 2**attempt``; the decoded JSON reply."""
    import httpx

    url = f"{base_url}/chat/completions"
    client = _client(base_url)
    attempts = retries + 1
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            resp = client.post(url, json=body, headers=headers, timeout=timeout_s)
        except httpx.TransportError as exc:
            if last:
                raise ConnectionError(
                    f"judge endpoint {url} unreachable after {attempts} attempt(s): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        else:
            if resp.status_code == 200:
                try:
                    return resp.json()
                except ValueError as exc:
                    raise ValueError(f"judge endpoint {url} sent invalid JSON: {resp.text[:200]!r}") from exc
            retryable = resp.status_code == 429 or resp.status_code >= 500
            if not retryable or last:
                tried = f" after {attempts} attempt(s)" if retryable else ""
                raise RuntimeError(
                    f"judge endpoint {url} returned HTTP {resp.status_code}{tried}: {resp.text[:300]!r}"
                )
        time.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _reply_text(data: dict[str, Any]) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"judge reply has no choices[0].message.content: {str(data)[:300]}") from exc
    if not isinstance(content, str):
        raise ValueError(f"judge reply content is {type(content).__name__}, not text: {str(data)[:300]}")
    return content


@VERIFIERS.register("llm_judge")
def llm_judge(
    completion: str,
    ground_truth: Any,
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    mode: str = "yes_no",
    question: str | None = None,
    prompt: str = "",
    timeout_s: float = 30.0,
    retries: int = 2,
    backoff_s: float = 0.5,
    threshold: int = 7,
    max_tokens: int = 512,
) -> RewardResult:
    """Ask an LLM judge whether / how well ``completion`` answers, given ``ground_truth``.

    Request: ``POST {base_url}/chat/completions`` with ``{"model", "messages": [{"role": "user",
    "content": question}], "temperature": 0, "max_tokens"}``. ``question`` is a template whose
    ``{completion}``, ``{ground_truth}`` and ``{prompt}`` are filled in (``prompt`` is a param, default
    empty; a non-string ground truth is written as JSON); the default per mode is in
    ``DEFAULT_QUESTIONS``.

    Scoring (a ``<think>...</think>`` block in the reply is ignored):

    - ``mode="yes_no"`` (default): score 1.0 and correct True if the reply, after stripping leading
      whitespace, punctuation and markdown, starts with the word "yes" (case-insensitive); score 0.0
      and correct False if it starts with "no"; anything else raises ValueError ("judge answered ...;
      expected yes or no"), so the router marks the sample errored rather than scoring it 0.
    - ``mode="score_0_10"``: n = the first integer from 0 to 10 in the reply (integers outside the
      range are skipped; a decimal met first, or no such integer, raises ValueError); score = n / 10,
      correct = n >= ``threshold`` (default 7).

    ``info``: ``{"judge_reply": first 500 chars of the reply, "judge_model": model}``.

    Params: ``base_url`` (e.g. ``http://host:8000/v1``; default env ``RLVR_JUDGE_BASE_URL``; required),
    ``model`` (default env ``RLVR_JUDGE_MODEL``, else ``"judge"``), ``api_key`` (default env
    ``RLVR_JUDGE_API_KEY``, else ``OPENAI_API_KEY``; sent as ``Authorization: Bearer``; none: no header),
    ``timeout_s`` per attempt (default 30), ``retries`` (default 2) after connection errors, timeouts,
    HTTP 429 and 5xx with backoff ``backoff_s * 2**attempt`` (default 0.5 s), ``max_tokens`` (512).
    Other HTTP errors fail at once. Mind the router's ``timeout_s``, which bounds the whole call
    including retries when verifiers run in a worker pool.
    """
    if mode not in MODES:
        raise ValueError(f"llm_judge mode must be one of {MODES}, got {mode!r}")
    base_url = base_url or os.environ.get("RLVR_JUDGE_BASE_URL")
    if not base_url:
        raise ValueError("llm_judge needs base_url (param or env RLVR_JUDGE_BASE_URL)")
    base_url = base_url.rstrip("/")
    model = model or os.environ.get("RLVR_JUDGE_MODEL") or "judge"
    api_key = api_key or os.environ.get("RLVR_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if retries < 0 or timeout_s <= 0:
        raise ValueError(f"llm_judge needs retries >= 0 and timeout_s > 0, got {retries}, {timeout_s}")

    content = render_question(question or DEFAULT_QUESTIONS[mode], completion, ground_truth, prompt)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "max_tokens": max_tokens,
    }
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    reply = _reply_text(_post(base_url, body, headers, timeout_s, retries, backoff_s))
    info = {"judge_reply": reply[:500], "judge_model": model}
    if mode == "yes_no":
        yes = parse_yes_no(reply)
        return RewardResult(float(yes), correct=yes, info=info)
    n = parse_score(reply)
    return RewardResult(n / 10, correct=n >= threshold, info=info)
