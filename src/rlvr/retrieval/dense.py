"""Dense retrieval: FAISS inner-product search over normalised embeddings.

Embedders: ``wordllama`` (offline: its wheel ships a 256-d model, loaded with downloads disabled) or
``sentence-transformers:<model>`` (e5, BGE... from a hub or a local path). e5 models want the
``query: `` / ``passage: `` prefixes: set ``query_prefix`` and ``doc_prefix``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr.retrieval.base import RETRIEVERS, Corpus, Hit
from rlvr.retrieval.bm25 import CORPUS_FILE

if TYPE_CHECKING:
    import numpy as np


class Embedder:
    """Texts -> L2-normalised float32 vectors ``(N, D)``."""

    def __init__(self, name: str = "wordllama", query_prefix: str = "", doc_prefix: str = "") -> None:
        self.name, self.query_prefix, self.doc_prefix = name, query_prefix, doc_prefix
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            if self.name == "wordllama":
                import wordllama  # type: ignore[import-untyped]
                from wordllama import WordLlama

                self._model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
            elif self.name.startswith("sentence-transformers:"):
                from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

                self._model = SentenceTransformer(self.name.split(":", 1)[1])
            else:
                raise ValueError(
                    f"embedder {self.name!r}: expected 'wordllama' or 'sentence-transformers:<model>'"
                )
        return self._model

    def embed(self, texts: list[str], query: bool) -> np.ndarray:
        import numpy as np

        model = self._load()
        prefix = self.query_prefix if query else self.doc_prefix
        texts = [prefix + t for t in texts]
        if self.name == "wordllama":
            vectors = np.asarray(model.embed(texts, norm=True), dtype=np.float32)  # (N, 256)
        else:
            vectors = np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)
        return np.ascontiguousarray(vectors)

    def spec(self) -> dict[str, str]:
        return {"embedder": self.name, "query_prefix": self.query_prefix, "doc_prefix": self.doc_prefix}


@RETRIEVERS.register("dense")
class DenseRetriever:
    """Exact inner-product search (``faiss.IndexFlatIP``) over normalised embeddings: cosine scores."""

    def __init__(self, corpus: Corpus, embedder: Embedder, index: Any) -> None:
        self.corpus, self.embedder, self.index = corpus, embedder, index

    @classmethod
    def build(
        cls,
        corpus: Corpus,
        embedder: str = "wordllama",
        query_prefix: str = "",
        doc_prefix: str = "",
        batch_size: int = 256,
        **options: Any,
    ) -> DenseRetriever:
        import faiss
        import numpy as np

        if options:
            raise TypeError(
                f"dense index takes embedder, query_prefix, doc_prefix, batch_size; got {sorted(options)}"
            )
        emb = Embedder(embedder, query_prefix, doc_prefix)
        texts = [d.text for d in corpus.docs]
        vectors = np.concatenate(
            [emb.embed(texts[i : i + batch_size], query=False) for i in range(0, len(texts), batch_size)]
        )  # (N, D)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return cls(corpus, emb, index)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        k = min(k, len(self.corpus))
        scores, rows = self.index.search(self.embedder.embed(queries, query=True), k)  # (Q, k) each
        return [
            [self.corpus.hit(int(i), float(s)) for i, s in zip(r, sc, strict=True) if i >= 0]
            for r, sc in zip(rows, scores, strict=True)
        ]

    def save(self, directory: str | Path) -> None:
        import faiss

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / "faiss.index"))
        self.corpus.write_jsonl(directory / CORPUS_FILE)
        meta = {"kind": "dense", "documents": len(self.corpus), **self.embedder.spec()}
        (directory / "index.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | Path) -> DenseRetriever:
        import faiss

        directory = Path(directory)
        meta = json.loads((directory / "index.json").read_text())
        emb = Embedder(meta["embedder"], meta["query_prefix"], meta["doc_prefix"])
        return cls(
            Corpus.from_jsonl(directory / CORPUS_FILE), emb, faiss.read_index(str(directory / "faiss.index"))
        )
