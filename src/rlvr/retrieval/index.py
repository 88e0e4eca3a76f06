"""Build, save and load an index by kind; a process-wide cache so episodes share one loaded index."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rlvr.retrieval.base import RETRIEVERS, Corpus, Retriever

_LOADED: dict[str, Retriever] = {}


def build_index(corpus: Corpus, kind: str, **options: Any) -> Retriever:
    """A fresh in-memory index of ``kind`` (``bm25`` | ``dense`` | ``module:attr``) over ``corpus``."""
    return RETRIEVERS.get(kind).build(corpus, **options)


def load_index(directory: str | Path) -> Retriever:
    """The index saved in ``directory`` (its ``index.json`` names the kind), loaded once per process; an
    ``http(s)://`` URL is an index served by ``rlvr index serve``; ``ray://NAME`` one served by the Ray
    actor ``NAME`` (``rlvr.retrieval.ray_actor.serve_in_ray``)."""
    if str(directory).startswith("ray://"):
        from rlvr.retrieval.ray_actor import RayRetriever

        name = str(directory)[len("ray://") :]
        return _LOADED.setdefault(str(directory), RayRetriever(name))  # type: ignore[arg-type]
    if str(directory).startswith(("http://", "https://")):
        from rlvr.retrieval.server import HTTPRetriever

        return _LOADED.setdefault(str(directory), HTTPRetriever(str(directory)))  # type: ignore[arg-type]
    key = str(Path(directory).resolve())
    if key not in _LOADED:
        meta_path = Path(directory) / "index.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path}: no index here; build one with `rlvr index build`")
        kind = json.loads(meta_path.read_text())["kind"]
        _LOADED[key] = RETRIEVERS.get(kind).load(directory)
    return _LOADED[key]


def build_and_save(
    corpus_path: str | Path, kind: str, output: str | Path, **options: Any
) -> dict[str, float]:
    """Read a corpus JSONL, index it, save it in ``output``; return timings and the document count."""
    start = time.perf_counter()
    corpus = Corpus.from_jsonl(corpus_path)
    read_s = time.perf_counter() - start
    retriever = build_index(corpus, kind, **options)
    build_s = time.perf_counter() - start - read_s
    retriever.save(output)
    return {"documents": float(len(corpus)), "read_s": read_s, "build_s": build_s}
