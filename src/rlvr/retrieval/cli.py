"""``rlvr index build CORPUS.jsonl --kind bm25|dense --output DIR``, ``rlvr index search DIR QUERY...``,
``rlvr index serve DIR``."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rlvr index`` to the CLI; the parsed args carry their ``handler``."""
    index = subparsers.add_parser("index", help="build or query a retrieval index (BM25 or dense)")
    sub = index.add_subparsers(dest="index_command", required=True)
    build = sub.add_parser("build", help="index a corpus JSONL ({id, contents} or {id, title, text} rows)")
    build.add_argument("corpus", help="corpus JSONL, e.g. wiki-18.jsonl")
    build.add_argument("--kind", default="bm25", help="bm25 | dense | module:attr (default bm25)")
    build.add_argument("--output", required=True, help="directory to write the index into")
    build.add_argument(
        "--embedder", help="dense only: wordllama (offline, default) or sentence-transformers:<model>"
    )
    build.add_argument("--query-prefix", default="", help="dense only: e.g. 'query: ' for e5")
    build.add_argument("--doc-prefix", default="", help="dense only: e.g. 'passage: ' for e5")
    build.set_defaults(handler=build_main)
    search = sub.add_parser("search", help="print the top-k hits of queries against a saved index")
    search.add_argument("index_dir")
    search.add_argument("queries", nargs="+")
    search.add_argument("-k", type=int, default=3)
    search.set_defaults(handler=search_main)
    serve = sub.add_parser("serve", help="serve a saved index over HTTP (POST /search)")
    serve.add_argument("index_dir")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    serve.add_argument("--port", type=int, default=8002)
    serve.set_defaults(handler=_serve)


def build_main(args: argparse.Namespace) -> int:
    from rlvr.retrieval.index import build_and_save

    options: dict[str, object] = {}
    if args.kind == "dense":
        options = {"embedder": args.embedder or "wordllama", "query_prefix": args.query_prefix}
        options["doc_prefix"] = args.doc_prefix
    elif args.embedder:
        raise SystemExit("--embedder is for --kind dense")
    stats = build_and_save(args.corpus, args.kind, args.output, **options)
    print(
        f"indexed {int(stats['documents'])} documents ({args.kind}) in {stats['build_s']:.2f}s -> {args.output}"
    )
    return 0


def search_main(args: argparse.Namespace) -> int:
    from rlvr.retrieval.index import load_index

    retriever = load_index(args.index_dir)
    for query, hits in zip(args.queries, retriever.search(args.queries, args.k), strict=True):
        rows = [{"id": h.doc_id, "title": h.title, "score": round(h.score, 4)} for h in hits]
        print(json.dumps({"query": query, "hits": rows}))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rlvr.retrieval.server import serve_main

    return serve_main(args)
