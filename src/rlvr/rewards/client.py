"""``RemoteRewardRouter``: the reward server's client, a drop-in for ``RewardRouter``.

``score(items)`` splits the items into batches of ``batch_size``, posts them to ``<url>/score``
concurrently over one pooled ``httpx.Client``, and returns the results in order. Connection errors and
5xx answers are retried with exponential backoff (``backoff_s``, 2x, 4x, ..., at most ``MAX_BACKOFF_S``)
for ``retry_window_s`` (default 30 s: longer than a server restart, ~15 s) or ``retries`` attempts,
whichever ends first; a server still unreachable after that raises ``RewardServerUnreachable``, whose
message gives the command that starts one.
A 4xx answer (a malformed request) or a batch that takes longer than ``timeout_s`` raises
``RewardServerError`` at once: retrying would not help. ``submit(items)`` returns a
``concurrent.futures.Future`` instead, so a trainer can score one chunk while it generates the next.

Needs ``httpx`` (the ``server`` extra); it is imported when a router is built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rewards.wire import request_to_json, result_from_json

if TYPE_CHECKING:
    pass


class RewardServerError(RuntimeError):
    """The reward server answered, but not with results (a 4xx, a 5xx after retries, a bad body)."""


class RewardServerUnreachable(RewardServerError, ConnectionError):
    """No connection to the reward server after every retry."""


MAX_BACKOFF_S = 2.0


def start_command(url: str) -> str:
    """The ``rlvr serve-rewards`` command that serves ``url`` (binding all interfaces unless loopback)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "rlvr serve-rewards --port 8765 --workers 4"
    host = parts.hostname or "127.0.0.1"
    bind = "" if host in ("127.0.0.1", "localhost", "::1") else " --host 0.0.0.0"
    return f"rlvr serve-rewards{bind} --port {port} --workers 4"


class RemoteRewardRouter:
    """Scores ``ScoreRequest`` batches on a reward server (``rlvr serve-rewards``); see the module doc.

    ``timeout_s`` bounds one HTTP exchange, so it must cover the server's time for one batch (raise it
    or lower ``batch_size`` for slow verifiers such as ``code``). ``max_concurrency`` batches are in
    flight at once, across ``score`` and ``submit`` calls. Thread-safe.
    """

    def __init__(
        self,
        url: str,
        timeout_s: float = 60.0,
        batch_size: int = 256,
        retries: int | None = None,
        backoff_s: float = 0.25,
        max_concurrency: int = 8,
        retry_window_s: float = 30.0,
    ) -> None:
        bad_retries = retries is not None and retries < 0
        if (
            timeout_s <= 0
            or batch_size < 1
            or bad_retries
            or backoff_s < 0
            or max_concurrency < 1
            or retry_window_s < 0
        ):
            raise ValueError(
                "need timeout_s > 0, batch_size >= 1, retries >= 0, backoff_s >= 0, max_concurrency >= 1, "
                f"retry_window_s >= 0; got {timeout_s}, {batch_size}, {retries}, {backoff_s}, {max_concurrency}, "
                f"{retry_window_s}"
            )
        try:
            import httpx
        except ImportError as exc:
            raise ImportError("RemoteRewardRouter needs httpx: pip install 'rlvr[server]'") from exc
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"reward server url must start with http:// or https://, got {url!r}")
        self.timeout_s, self.batch_size = timeout_s, batch_size
        self.retries, self.backoff_s, self.retry_window_s = retries, backoff_s, retry_window_s
        limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        self._client = httpx.Client(timeout=timeout_s, limits=limits)
        self._batches = ThreadPoolExecutor(max_concurrency, thread_name_prefix="reward-client")
        self._submits = ThreadPoolExecutor(max_concurrency, thread_name_prefix="reward-submit")
        self._lock = threading.Lock()
        self._closed = False

    def score(self, items: Sequence[ScoreRequest]) -> list[RewardResult]:
        """One result per item, in order; raises ``RewardServerError`` / ``RewardServerUnreachable``."""
        items = list(items)
        if not items:
            return []
        self._check_open()
        chunks = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        if len(chunks) == 1:
            return self._post_batch(chunks[0])
        futures = [self._batches.submit(self._post_batch, chunk) for chunk in chunks]
        try:
            return [r for fut in futures for r in fut.result()]
        finally:
            for fut in futures:
                fut.cancel()  # after a failure, do not send the batches not yet started

    def submit(self, items: Sequence[ScoreRequest]) -> Future[list[RewardResult]]:
        """``score(items)`` in the background; the future holds its results or its exception."""
        self._check_open()
        return self._submits.submit(self.score, list(items))

    def health(self) -> dict[str, Any]:
        """The server's ``GET /health`` answer (with the same retries as ``score``)."""
        return self._request("GET", "/health", None, what="health check")

    def metrics(self) -> dict[str, Any]:
        """The server's ``GET /metrics`` answer: counts and latencies per verifier."""
        return self._request("GET", "/metrics", None, what="metrics")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._submits.shutdown(wait=True, cancel_futures=True)
        self._batches.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def __enter__(self) -> RemoteRewardRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteRewardRouter({self.url!r}, batch_size={self.batch_size})"

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this RemoteRewardRouter is closed")

    def _post_batch(self, chunk: list[ScoreRequest]) -> list[RewardResult]:
        body = {"requests": [request_to_json(item) for item in chunk]}
        data = self._request("POST", "/score", body, what=f"a batch of {len(chunk)}")
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list) or len(results) != len(chunk):
            got = len(results) if isinstance(results, list) else type(results).__name__
            raise RewardServerError(f"reward server at {self.url} answered {got} results for {len(chunk)}")
        return [result_from_json(r) for r in results]

    def _request(self, method: str, path: str, body: Any, what: str) -> Any:
        """One HTTP exchange with retries on connection errors and 5xx; returns the decoded JSON."""
        import httpx

        last, attempt, start = "", 0, time.monotonic()
        while True:
            if attempt:
                left = self.retry_window_s - (time.monotonic() - start)
                if (self.retries is not None and attempt > self.retries) or left <= 0:
                    break
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S, left))
            attempt += 1
            try:
                resp = self._client.request(method, self.url + path, json=body)
            except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
                raise RewardServerError(
                    f"reward server at {self.url} did not answer {what} within {self.timeout_s:g} s "
                    f"({type(exc).__name__}); raise the client's timeout_s or lower its batch_size"
                ) from exc
            except httpx.TransportError as exc:  # refused, reset, DNS, connect timeout, ...
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                continue
            if resp.status_code >= 400:
                raise RewardServerError(
                    f"reward server at {self.url} rejected {what}: HTTP {resp.status_code}: {resp.text[:1000]}"
                )
            try:
                return resp.json()
            except ValueError as exc:
                raise RewardServerError(f"reward server at {self.url} sent invalid JSON: {exc}") from exc
        tries = f"{attempt} attempt{'s' if attempt > 1 else ''} over {time.monotonic() - start:.1f} s"
        if last.startswith("HTTP "):
            raise RewardServerError(f"reward server at {self.url} failed {what} after {tries}: {last}")
        raise RewardServerUnreachable(
            f"cannot reach the reward server at {self.url}: {last} (after {tries}); start it with "
            f"'{start_command(self.url)}' or unset reward.server_url"
        )
