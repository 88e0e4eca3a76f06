"""The reward server: verifiers behind HTTP (V-Triune's tier 2), for trainers on other machines or
processes. Start it with ``rlvr serve-rewards --host 127.0.0.1 --port 8765 --workers 4``; point a run at
it with ``reward.server_url`` (``RemoteRewardRouter`` is the client).

Endpoints (JSON; see ``rlvr.rewards.wire`` for the encoding):

- ``POST /score``: ``{"requests": [{completion, spec: {verifier, ground_truth, params, weight},
  sample_key, completion_tokens, data_source}, ...]}`` -> ``{"results": [{score, correct, info,
  error}, ...]}``, one result per request, in order. Results are those of ``score_one`` in-process:
  a verifier's failure is a result with ``error`` set, never an HTTP error.
- ``GET /health``: ``{"status": "ok" | "degraded", "workers", "workers_alive", ...}``; 503 when no worker
  is alive (replacements are starting).
- ``GET /metrics``: per verifier: requests, errors, timeouts, retries, worker deaths, latency (mean, max,
  p50/p90/p99 over the last 4096 calls; from arrival to answer, queueing included) and verify time.

Verifiers run in ``WorkerPool`` processes (``rlvr.rewards.worker_pool``), so the event loop never
blocks; each call has a timeout, and a call whose worker dies is retried once on a fresh worker.

Requests are refused before any verifier runs when the body passes ``max_body_bytes`` (413), is not
JSON, holds a non-finite number (``NaN``, ``Infinity``, ``1e999``) or does not fit the schema (422), or
names a ``module:attr`` verifier (anywhere, ``combined`` components included) on a server not started
with ``--allow-import-verifiers`` (403): importing code by name is the server operator's choice.
The server is meant for loopback or a private cluster network; ``code`` runs completions in the
sandbox (``--sandbox``, default bwrap; ``rlvr.rewards.sandbox``).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import math
import signal
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from rlvr.data.sample import RewardSpec
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.wire import result_to_json
from rlvr.rewards.worker_pool import Outcome, WorkerPool

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("rlvr.rewards.server")

DEFAULT_PORT = 8765
LATENCY_WINDOW = 4096


class SpecIn(BaseModel):
    verifier: str
    ground_truth: Any = None
    params: dict[str, Any] = Field(default_factory=dict)
    weight: float = 1.0


class RequestIn(BaseModel):
    completion: str
    spec: SpecIn
    sample_key: str = ""
    completion_tokens: int = 0
    data_source: str = "default"

    def to_request(self) -> ScoreRequest:
        s = self.spec
        spec = RewardSpec(s.verifier, s.ground_truth, s.params, s.weight)
        return ScoreRequest(self.completion, spec, self.sample_key, self.completion_tokens, self.data_source)


class ScoreBody(BaseModel):
    requests: list[RequestIn]


DEFAULT_MAX_BODY_MB = 64.0


class Refused(Exception):
    """A request refused before any verifier runs: an HTTP status and why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"non-finite number {text!r}")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-finite number {name!r}")


def parse_score_body(raw: bytes, allow_import_verifiers: bool) -> ScoreBody:
    """The body of ``POST /score``, or ``Refused`` (422 / 403) saying what is wrong with it."""
    try:
        data = json.loads(raw, parse_float=_finite, parse_constant=_no_constants)
    except ValueError as exc:  # includes UnicodeDecodeError
        raise Refused(422, f"request body is not valid finite JSON: {exc}") from exc
    try:
        body = ScoreBody.model_validate(data)
    except ValueError as exc:
        raise Refused(422, str(exc)) from exc
    if not allow_import_verifiers:
        for i, r in enumerate(body.requests):
            name = _imported_verifier(r.spec.verifier, r.spec.params)
            if name:
                raise Refused(
                    403,
                    f"requests[{i}] names the import-path verifier {name!r}; this server only runs "
                    "registered verifiers (start it with --allow-import-verifiers to import code by name)",
                )
    return body


def _imported_verifier(verifier: str, params: Any) -> str | None:
    """The first ``module:attr`` verifier name in a spec, its ``combined`` components included."""
    if ":" in verifier:
        return verifier
    stack = [params]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("verifier")
            if isinstance(name, str) and ":" in name:
                return name
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


async def read_body(request: Any, max_bytes: int) -> bytes:
    """The request body, or ``Refused(413)`` as soon as it passes ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Refused(
            413, f"request body of {int(declared)} bytes is over this server's limit of {max_bytes}"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise Refused(413, f"request body is over this server's limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty sequence."""
    return sorted_xs[min(len(sorted_xs) - 1, max(0, round(q * len(sorted_xs)) - 1))]


@dataclass
class VerifierStats:
    requests: int = 0
    errors: int = 0  # timeouts and worker deaths included
    timeouts: int = 0
    retries: int = 0  # calls rerun after their worker died
    worker_deaths: int = 0
    latency_sum_s: float = 0.0
    latency_max_s: float = 0.0
    verify_sum_s: float = 0.0  # the verifier's own time (``info["latency_s"]``)
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    def add(self, outcome: Outcome, latency_s: float) -> None:
        res = outcome.result
        self.requests += 1
        self.errors += res.error is not None
        self.timeouts += outcome.timeout
        self.retries += outcome.retried
        self.worker_deaths += outcome.worker_deaths
        self.latency_sum_s += latency_s
        self.latency_max_s = max(self.latency_max_s, latency_s)
        self.verify_sum_s += float(res.info.get("latency_s", 0.0))
        self.recent.append(latency_s)

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = {
            "requests": self.requests,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "retries": self.retries,
            "worker_deaths": self.worker_deaths,
        }
        if self.requests:
            out["latency_mean_s"] = self.latency_sum_s / self.requests
            out["latency_max_s"] = self.latency_max_s
            out["verify_mean_s"] = self.verify_sum_s / self.requests
            xs = sorted(self.recent)
            out.update({f"latency_p{q}_s": _quantile(xs, q / 100) for q in (50, 90, 99)})
        return out


class ServerState:
    """The pool and the counters of one running server (lives on ``app.state.rewards``)."""

    def __init__(self, workers: int, timeout_s: float) -> None:
        self.workers, self.timeout_s = workers, timeout_s
        self.pool: WorkerPool | None = None
        self.started = time.monotonic()
        self.batches = 0
        self.per_verifier: dict[str, VerifierStats] = defaultdict(VerifierStats)
        self.total = VerifierStats()

    async def score(self, items: list[ScoreRequest]) -> list[Outcome]:
        assert self.pool is not None, "the worker pool is not running"
        pool, start = self.pool, time.monotonic()

        async def one(item: ScoreRequest) -> Outcome:
            outcome = await pool.score(item)
            latency = time.monotonic() - start
            self.per_verifier[item.spec.verifier].add(outcome, latency)
            self.total.add(outcome, latency)
            return outcome

        self.batches += 1
        return await asyncio.gather(*(one(item) for item in items))

    def health(self) -> dict[str, Any]:
        alive = self.pool.alive if self.pool else 0
        return {
            "status": "ok" if alive == self.workers else "degraded",
            "workers": self.workers,
            "workers_alive": alive,
            "timeout_s": self.timeout_s,
            "uptime_s": time.monotonic() - self.started,
        }

    def metrics(self) -> dict[str, Any]:
        per = {name: s.as_dict() for name, s in sorted(self.per_verifier.items())}
        pool = self.pool
        return {
            "uptime_s": time.monotonic() - self.started,
            "batches": self.batches,
            "workers": self.workers,
            "workers_alive": pool.alive if pool else 0,
            "worker_restarts": pool.restarts if pool else 0,
            "in_flight": pool.in_flight if pool else 0,
            "waiting": pool.waiting if pool else 0,
            "all": self.total.as_dict(),
            "verifiers": per,
        }


def create_app(
    workers: int = 4,
    timeout_s: float = 30.0,
    *,
    allow_import_verifiers: bool = False,
    max_body_mb: float = DEFAULT_MAX_BODY_MB,
) -> FastAPI:
    """The ASGI app; its lifespan starts ``workers`` verifier processes and stops them."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    state = ServerState(workers, timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = WorkerPool(workers, timeout_s)
        await pool.start()
        state.pool = pool
        log.info("reward server: %d workers, timeout %g s", workers, timeout_s)
        try:
            yield
        finally:
            state.pool = None
            await pool.close()

    app = FastAPI(title="rlvr reward server", lifespan=lifespan)
    app.state.rewards = state

    max_bytes = int(max_body_mb * 2**20)

    async def score(request: Request) -> JSONResponse:
        try:
            body = parse_score_body(await read_body(request, max_bytes), allow_import_verifiers)
        except Refused as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        outcomes = await state.score([r.to_request() for r in body.requests])
        return JSONResponse({"results": [result_to_json(o.result) for o in outcomes]})

    score.__annotations__["request"] = Request  # resolved here: this module postpones annotations
    app.post("/score")(score)

    @app.get("/health")
    async def health() -> JSONResponse:
        h = state.health()
        return JSONResponse(h, status_code=200 if h["workers_alive"] else 503)

    @app.get("/metrics")
    async def metrics() -> JSONResponse:
        return JSONResponse(state.metrics())

    return app


def _warn_if_exposed(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        log.warning(
            "reward server listening on %s: anyone who can reach it can run verifiers, including "
            "'module:attr' imports of code installed here; keep it on a private network",
            host,
        )


def _uvicorn_config(
    host: str, port: int, workers: int, timeout_s: float, log_level: str, access_log: bool, **app_kw: Any
) -> Any:
    import uvicorn

    app = create_app(workers, timeout_s, **app_kw)
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log)


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    workers: int = 4,
    timeout_s: float = 30.0,
    log_level: str = "info",
    access_log: bool = False,
    **app_kw: Any,
) -> None:
    """Run the reward server in the foreground until SIGINT / SIGTERM (``app_kw``: see ``create_app``)."""
    import uvicorn

    _warn_if_exposed(host)
    uvicorn.Server(_uvicorn_config(host, port, workers, timeout_s, log_level, access_log, **app_kw)).run()


class BackgroundServer:
    """The reward server on a background thread of this process (tests, notebooks, benchmarks).

    ``port=0`` picks a free port; ``url`` says which. Use as a context manager, or ``start()`` /
    ``stop()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 2,
        timeout_s: float = 30.0,
        log_level: str = "warning",
        **app_kw: Any,
    ) -> None:
        import uvicorn

        self.host = host
        config = _uvicorn_config(host, port, workers, timeout_s, log_level, False, **app_kw)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="reward-server", daemon=True)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 180.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the reward server failed to start (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the reward server did not start in {timeout_s:g} s")
            time.sleep(0.05)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rlvr serve-rewards",
        description="Serve rlvr's verifiers over HTTP (POST /score, GET /health, GET /metrics).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--workers", type=int, default=4, help="verifier worker processes (default 4)")
    p.add_argument("--timeout-s", type=float, default=30.0, help="per-call verifier timeout (default 30)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", help="log every HTTP request")
    p.add_argument(
        "--allow-import-verifiers",
        action="store_true",
        help="let requests name 'module:attr' verifiers, importing code installed here (default: refused, 403)",
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_MB,
        help="largest request body (default 64; 413 past it)",
    )
    p.add_argument(
        "--sandbox",
        choices=["bwrap", "sandbox_fusion", "none"],
        default="bwrap",
        help="where the code verifier runs programs (default bwrap)",
    )
    p.add_argument("--sandbox-url", help="SandboxFusion's URL, for --sandbox sandbox_fusion")
    return p


def _stop_cleanly(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``rlvr serve-rewards`` entry point; returns an exit status."""
    args = build_parser().parse_args(argv)
    if args.workers < 1 or args.timeout_s <= 0 or not 0 <= args.port < 65536 or not args.max_body_mb > 0:
        build_parser().error(
            "need --workers >= 1, --timeout-s > 0, --max-body-mb > 0 and 0 <= --port < 65536"
        )
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    from rlvr.rewards.sandbox import configure

    configure(args.sandbox, args.sandbox_url)  # the workers inherit it
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: that is a clean stop too (exit 0)
    signal.signal(signal.SIGTERM, _stop_cleanly)
    try:
        serve(
            args.host,
            args.port,
            args.workers,
            args.timeout_s,
            args.log_level,
            args.access_log,
            allow_import_verifiers=args.allow_import_verifiers,
            max_body_mb=args.max_body_mb,
        )
    except SystemExit as exc:  # uvicorn exits 3 when the lifespan (the worker pool) fails to start
        return int(exc.code or 0)
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT / SIGTERM after its graceful shutdown: a clean stop
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(serve_main())
