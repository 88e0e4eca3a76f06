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

Security: a request may name any verifier, including a ``module:attr`` import path of code installed
on the server. The server is meant for loopback or a private cluster network; it is not a sandbox
(``code`` runs completions in ``rlvr.rewards.sandbox``, as in-process).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
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


def create_app(workers: int = 4, timeout_s: float = 30.0) -> FastAPI:
    """The ASGI app; its lifespan starts ``workers`` verifier processes and stops them."""
    from fastapi import FastAPI
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

    @app.post("/score")
    async def score(body: ScoreBody) -> JSONResponse:
        outcomes = await state.score([r.to_request() for r in body.requests])
        return JSONResponse({"results": [result_to_json(o.result) for o in outcomes]})

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
    host: str, port: int, workers: int, timeout_s: float, log_level: str, access_log: bool
) -> Any:
    import uvicorn

    app = create_app(workers, timeout_s)
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log)


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    workers: int = 4,
    timeout_s: float = 30.0,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Run the reward server in the foreground until SIGINT / SIGTERM."""
    import uvicorn

    _warn_if_exposed(host)
    uvicorn.Server(_uvicorn_config(host, port, workers, timeout_s, log_level, access_log)).run()


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
    ) -> None:
        import uvicorn

        self.host = host
        self._server = uvicorn.Server(_uvicorn_config(host, port, workers, timeout_s, log_level, False))
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
    return p


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``rlvr serve-rewards`` entry point; returns an exit status."""
    args = build_parser().parse_args(argv)
    if args.workers < 1 or args.timeout_s <= 0 or not 0 <= args.port < 65536:
        build_parser().error("need --workers >= 1, --timeout-s > 0 and 0 <= --port < 65536")
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        serve(args.host, args.port, args.workers, args.timeout_s, args.log_level, args.access_log)
    except SystemExit as exc:  # uvicorn exits 3 when the lifespan (the worker pool) fails to start
        return int(exc.code or 0)
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT after its graceful shutdown: a clean stop
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(serve_main())
