"""Retrievers: batched ranked search, save / load round trips, the corpus formats, `rlvr index`."""

import json

import pytest

from rlvr.cli import main
from rlvr.data.s3_qa import load_s3_questions
from rlvr.retrieval import Corpus, build_index, load_index

FIXTURES = "tests/fixtures/s3"


def _corpus():
    return Corpus.from_jsonl(f"{FIXTURES}/wiki18_sample.jsonl")


def test_wiki18_rows_strip_the_quoted_title_and_title_text_rows_load(tmp_path):
    c = _corpus()
    assert [d.title for d in c.docs] == ["Paris", "Berlin", "Danube", "Vienna"]
    assert c.docs[3].body == "Vienna is the capital of Austria."
    c.write_jsonl(tmp_path / "c.jsonl")
    assert Corpus.from_jsonl(tmp_path / "c.jsonl").docs == c.docs
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "body": "?"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: row 'x' has neither"):
        Corpus.from_jsonl(tmp_path / "bad.jsonl")


@pytest.mark.parametrize("kind", ["bm25", "dense"])
def test_search_is_batched_ranked_and_survives_save_and_load(kind, tmp_path):
    retriever = build_index(_corpus(), kind)
    hits = retriever.search(["capital of Austria", "Danube Vienna Budapest"], k=2)
    assert [h[0].title for h in hits] == ["Vienna", "Danube"]
    assert all(len(h) == 2 and h[0].score >= h[1].score for h in hits)
    retriever.save(tmp_path / kind)
    again = load_index(tmp_path / kind).search(["capital of Austria", "Danube Vienna Budapest"], k=2)
    assert [[(h.doc_id, round(h.score, 5)) for h in q] for q in again] == [
        [(h.doc_id, round(h.score, 5)) for h in q] for q in hits
    ]


def test_bm25_returns_nothing_for_a_query_with_no_known_word_and_clamps_k():
    retriever = build_index(_corpus(), "bm25")
    assert retriever.search(["zzzz qqqq"], k=3) == [[]]
    assert len(retriever.search(["capital"], k=50)[0]) == 3  # only the three docs with "capital" score > 0


def test_rlvr_index_build_and_search(tmp_path, capsys):
    assert (
        main(
            [
                "index",
                "build",
                f"{FIXTURES}/wiki18_sample.jsonl",
                "--kind",
                "bm25",
                "--output",
                str(tmp_path / "i"),
            ]
        )
        == 0
    )
    assert "indexed 4 documents (bm25)" in capsys.readouterr().out
    assert main(["index", "search", str(tmp_path / "i"), "capital of Germany", "-k", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["title"] == "Berlin"


def test_s3_question_loader_and_an_episode_over_a_saved_index(tmp_path):
    from rlvr.envs import build_env

    build_index(_corpus(), "bm25").save(tmp_path / "idx")
    samples = load_s3_questions(f"{FIXTURES}/nq_sample.jsonl", index=str(tmp_path / "idx"), env={"topk": 1})
    assert [s.metadata["answers"] for s in samples] == [["Vienna"], ["Danube", "the Danube river"]]
    env = build_env(samples[0].env)
    first = env.reset(samples[0])
    assert "Doc 1(Title: Vienna) Vienna is the capital of Austria." in first[0]["content"]
    (tmp_path / "q.jsonl").write_text('{"question": "q?"}\n')
    with pytest.raises(ValueError, match=r"q.jsonl:1: no answers; expected one of golden_answers"):
        load_s3_questions(tmp_path / "q.jsonl", index="x")


def test_http_server_and_client_give_the_in_process_hits(tmp_path):
    from fastapi.testclient import TestClient

    from rlvr.retrieval.server import HTTPRetriever, create_app

    local = build_index(_corpus(), "bm25")
    local.save(tmp_path / "i")
    with TestClient(create_app(tmp_path / "i")) as client:
        assert client.get("/health").json()["documents"] == 4
        remote = HTTPRetriever("http://testserver", client=client)
        queries = ["capital of Austria", "Danube Vienna Budapest"]
        assert remote.search(queries, 2) == local.search(queries, 2)


def test_s3_questions_generator_draws_by_seed(tmp_path):
    from rlvr.data import generate

    a = generate("s3_questions", size=1, seed=0, path=f"{FIXTURES}/nq_sample.jsonl", index="x")
    b = generate("s3_questions", size=1, seed=0, path=f"{FIXTURES}/nq_sample.jsonl", index="x")
    assert a == b and a[0].env.params == {"index": "x"}


def test_declared_retriever_kinds_are_the_registered_ones():
    from rlvr.retrieval import RETRIEVERS

    assert RETRIEVERS.names() == sorted(RETRIEVERS.builtins) == ["bm25", "dense"]
