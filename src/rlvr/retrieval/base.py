"""The retriever interface: a corpus of documents and ``search(queries, k)`` -> ranked hits, batched.

corpus = Corpus.from_jsonl("wiki18.jsonl")          # {"id", "contents"} or {"id", "title", "text"} rows
retriever = BM25Retriever.build(corpus)
hits = retriever.search(["capital of France"], k=3) # one list of Hit per query, best first
hits[0][0].doc_id, hits[0][0].text, hits[0][0].score
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rlvr.registry import Registry


@dataclass(frozen=True)
class Document:
    """One corpus entry. ``text`` is what a retriever indexes and a reader sees (title first line)."""

    doc_id: str
    title: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}" if self.title else self.body


@dataclass(frozen=True)
class Hit:
    """One ranked result: the document's position in the corpus, its id, title, body and score."""

    index: int
    doc_id: str
    title: str
    body: str
    score: float


class Corpus:
    """Documents in a fixed order; a retriever's internal row ``i`` is ``docs[i]``."""

    def __init__(self, docs: list[Document]) -> None:
        if not docs:
            raise ValueError("a corpus needs at least one document")
        self.docs = docs

    def __len__(self) -> int:
        return len(self.docs)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> Corpus:
        """Read JSONL rows: s3 / FlashRAG wiki-18 style ``{"id", "contents": "title\\nbody"}`` (the
        title on the first line, may be quoted) or ``{"id", "title", "text"}``."""
        docs = []
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if line.strip():
                    docs.append(_parse_row(json.loads(line), f"{path}:{line_no}"))
        return cls(docs)

    def write_jsonl(self, path: str | Path) -> None:
        """Write ``{"id", "title", "text"}`` rows (readable by :meth:`from_jsonl`)."""
        with open(path, "w", encoding="utf-8") as f:
            for d in self.docs:
                f.write(json.dumps({"id": d.doc_id, "title": d.title, "text": d.body}) + "\n")

    def hit(self, index: int, score: float) -> Hit:
        d = self.docs[index]
        return Hit(index, d.doc_id, d.title, d.body, score)


def _parse_row(row: object, where: str) -> Document:
    if not isinstance(row, dict) or "id" not in row:
        raise ValueError(f"{where}: expected an object with 'id' and 'contents' (or 'title' and 'text')")
    if "contents" in row:
        title, _, body = str(row["contents"]).partition("\n")
        return Document(str(row["id"]), title.strip().strip('"'), body.strip())
    if "text" in row:
        return Document(str(row["id"]), str(row.get("title", "")), str(row["text"]))
    raise ValueError(f"{where}: row {row['id']!r} has neither 'contents' nor 'text'")


class Retriever(Protocol):
    """Anything with a corpus and a batched ``search``; ``save`` writes what ``load`` reads."""

    corpus: Corpus

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """For each query, at most ``k`` hits, best first."""
        ...

    def save(self, directory: str | Path) -> None: ...


class RetrieverKind(Protocol):
    def build(self, corpus: Corpus, **options: Any) -> Retriever: ...

    def load(self, directory: str | Path) -> Retriever: ...


RETRIEVERS: Registry[RetrieverKind] = Registry("retriever", builtins=("bm25", "dense"), home="rlvr.retrieval")
"""Kinds of index by name (``bm25``, ``dense``): classes with ``build(corpus)`` and ``load(directory)``."""
