"""BM25 over a corpus with ``bm25s`` (sparse score matrices; a 100k-document index builds in seconds)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from rlvr.retrieval.base import RETRIEVERS, Corpus, Hit

CORPUS_FILE = "corpus.jsonl"
logging.getLogger("bm25s").setLevel(logging.WARNING)  # its DEBUG line on every index build


@RETRIEVERS.register("bm25")
class BM25Retriever:
    """Okapi BM25 (``k1``, ``b``) with English stop words removed; tokens are lower-cased words."""

    def __init__(self, corpus: Corpus, model: Any) -> None:
        self.corpus, self.model = corpus, model

    @classmethod
    def build(cls, corpus: Corpus, k1: float = 1.5, b: float = 0.75, **options: Any) -> BM25Retriever:
        import bm25s

        if options:
            raise TypeError(f"bm25 index takes k1 and b, got {sorted(options)}")
        model = bm25s.BM25(k1=k1, b=b)
        tokens = bm25s.tokenize([d.text for d in corpus.docs], stopwords="en", show_progress=False)
        model.index(tokens, show_progress=False)
        return cls(corpus, model)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        import bm25s

        k = min(k, len(self.corpus))
        tokens = bm25s.tokenize(queries, stopwords="en", return_ids=False, show_progress=False)
        known = self.model.vocab_dict
        out: list[list[Hit]] = []
        for query_tokens in tokens:  # one query at a time: bm25s rejects a query with no known token
            words = [t for t in query_tokens if t in known]
            if not words:
                out.append([])
                continue
            rows, scores = self.model.retrieve([words], k=k, show_progress=False, n_threads=1)
            hits = [
                self.corpus.hit(int(i), float(s)) for i, s in zip(rows[0], scores[0], strict=True) if s > 0
            ]
            out.append(hits)
        return out

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(str(directory / "bm25"), show_progress=False)
        self.corpus.write_jsonl(directory / CORPUS_FILE)
        (directory / "index.json").write_text(json.dumps({"kind": "bm25", "documents": len(self.corpus)}))

    @classmethod
    def load(cls, directory: str | Path) -> BM25Retriever:
        import bm25s

        directory = Path(directory)
        model = bm25s.BM25.load(str(directory / "bm25"), show_progress=False)
        return cls(Corpus.from_jsonl(directory / CORPUS_FILE), model)
