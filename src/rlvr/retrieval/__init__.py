"""Retrievers behind one batched interface: ``search(queries, k) -> [[Hit, ...], ...]``.

Importing this package registers ``bm25`` (bm25s) and ``dense`` (FAISS over wordllama or
sentence-transformers embeddings). Heavy libraries are imported on first build / load.
It never imports training or distributed code (an import-linter contract).
"""

from rlvr.retrieval import bm25 as _bm25  # noqa: F401  (registers bm25)
from rlvr.retrieval import dense as _dense  # noqa: F401  (registers dense)
from rlvr.retrieval.base import RETRIEVERS, Corpus, Document, Hit, Retriever
from rlvr.retrieval.index import build_and_save, build_index, load_index

__all__ = [
    "RETRIEVERS",
    "Corpus",
    "Document",
    "Hit",
    "Retriever",
    "build_and_save",
    "build_index",
    "load_index",
]
