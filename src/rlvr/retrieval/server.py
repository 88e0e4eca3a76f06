"""Serve a saved index over HTTP (for a corpus that does not fit beside the learner), and its client.

    rlvr index serve data/index/wiki18-e5 --port 8002          # POST /search {"queries": [...], "k": 3}
    retriever = HTTPRetriever("http://127.0.0.1:8002")         # the Retriever interface, remotely

The s3 environment takes the URL as its ``index`` param. Like the reward server, it binds 127.0.0.1
unless told otherwise.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from rlvr.retrieval.base import Hit
from rlvr.retrieval.index import load_index


class SearchBody(BaseModel):
    """A batch of queries and how many hits each."""

    queries: list[str]
    """The query texts."""
    k: int = Field(3, ge=1, le=1000)
    """Hits per query, best first."""


def create_app(index_dir: str | Path) -> Any:
    """The ASGI app: ``POST /search`` -> ``{"results": [[hit, ...], ...], "latency_s"}``; ``GET /health``."""
    from fastapi import FastAPI

    retriever = load_index(index_dir)
    app = FastAPI(title="rlvr retrieval server")

    @app.post("/search")
    def search(body: SearchBody) -> dict[str, Any]:
        start = time.perf_counter()
        hits = retriever.search(body.queries, body.k)
        rows = [[vars(h) for h in q] for q in hits]
        return {"results": rows, "latency_s": time.perf_counter() - start}

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"documents": len(retriever.corpus), "index": str(index_dir)}

    return app


class HTTPRetriever:
    """A :class:`~rlvr.retrieval.base.Retriever` whose index lives behind ``rlvr index serve``."""

    def __init__(self, url: str, timeout_s: float = 60.0, client: Any = None) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout_s)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        response = self.client.post("/search", json={"queries": queries, "k": k})
        response.raise_for_status()
        return [[Hit(**h) for h in q] for q in response.json()["results"]]

    def save(self, directory: str | Path) -> None:
        raise NotImplementedError(f"{self.url}: a remote index is saved where it is served")


def serve_main(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(create_app(args.index_dir), host=args.host, port=args.port, log_level="info")
    return 0
