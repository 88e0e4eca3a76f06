"""The synthetic multi-hop world needs search: naive RAG (top-k for the raw question, BM25) finds the
answer of every 1-hop question and of no 2-hop question; a query for the bridge entity finds it."""

from rlvr.data import generate
from rlvr.data.multihop import build_world
from rlvr.retrieval import Corpus, Document, build_index

K = 3


def _retriever(world):
    return build_index(Corpus([Document(str(i), t, b) for i, (t, b) in enumerate(world.docs)]), "bm25")


def _contains_answer(hits, answers):
    return any(a in f"{h.title}\n{h.body}" for h in hits for a in answers)


def test_naive_rag_answers_one_hop_not_two_hop_and_the_bridge_query_does():
    world = build_world(seed=0, people=200, cities=40, nations=8)
    assert len(world.docs) == 240 and len(world.questions) == 40 + 2 * 200
    retriever = _retriever(world)
    one = [q for q in world.questions if q.hops == 1]
    two = [q for q in world.questions if q.hops == 2]
    naive_one = retriever.search([q.question for q in one], K)
    naive_two = retriever.search([q.question for q in two], K)
    bridge = retriever.search([q.bridge for q in two], K)
    assert sum(_contains_answer(h, q.answers) for h, q in zip(naive_one, one, strict=True)) == len(one) == 240
    assert sum(_contains_answer(h, q.answers) for h, q in zip(naive_two, two, strict=True)) == 0
    assert all(h[0].title == q.bridge for h, q in zip(bridge, two, strict=True))  # the city doc, ranked first
    assert sum(_contains_answer(h[:1], q.answers) for h, q in zip(bridge, two, strict=True)) == 200
    # the person doc (the first hop) is in naive RAG's top-k of every 2-hop question
    assert all(any(h.title == q.support[0] for h in hits) for hits, q in zip(naive_two, two, strict=True))


def test_world_is_deterministic_and_the_generator_samples_hops():
    assert build_world(seed=3, people=20, cities=5) == build_world(seed=3, people=20, cities=5)
    samples = generate("multihop_world", size=10, seed=1, people=20, cities=5, hops=[2], env={"topk": 2})
    assert len(samples) == 10 and {s.metadata["hops"] for s in samples} == {2}
    assert samples[0].env is not None and samples[0].env.name == "s3"
    assert samples[0].env.params == {"world": {"seed": 0, "people": 20, "cities": 5, "nations": 8}, "topk": 2}


def test_world_is_the_same_in_every_process():
    """Python salts str hashes per process: a world built from a set's order would differ between the
    SFT, training and eval processes."""
    import subprocess
    import sys

    code = "from rlvr.data.multihop import build_world; print(build_world(seed=1, people=30, cities=6).docs)"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**__import__("os").environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1
