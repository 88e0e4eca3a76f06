"""A saved index served from a named Ray actor on a local 1-CPU Ray: the in-process hits, by name or
through the env's ``index: ray://NAME``, and a clear error for an unknown name."""

import pytest

from rlvr.retrieval import Corpus, build_index, load_index

ray = pytest.importorskip("ray", reason="the Ray retrieval actor needs Ray: pip install 'rlvr[ray]'")

QUERIES = ["capital of Austria", "Danube Vienna Budapest", "zzzz"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_actor_serves_the_in_process_hits_by_name_and_by_url(local_ray, tmp_path):
    from rlvr.retrieval.ray_actor import RayRetriever, serve_in_ray, stop_serving

    local = build_index(Corpus.from_jsonl("tests/fixtures/s3/wiki18_sample.jsonl"), "bm25")
    local.save(tmp_path / "idx")
    serve_in_ray(tmp_path / "idx", name="wiki-sample", num_cpus=0.5)
    remote = RayRetriever("wiki-sample")
    assert remote.health() == {"documents": 4, "index": str(tmp_path / "idx")}
    hits = remote.search(QUERIES, 2)
    assert [[h.title for h in q] for q in hits] == [["Vienna", "Berlin"], ["Danube", "Vienna"], []]
    assert hits == local.search(QUERIES, 2)
    assert load_index("ray://wiki-sample").search(QUERIES, 1) == local.search(QUERIES, 1)
    with pytest.raises(ValueError, match=r"ray://nope: no Ray actor of that name"):
        RayRetriever("nope")
    with pytest.raises(ValueError, match="already"):  # one actor per name
        serve_in_ray(tmp_path / "idx", name="wiki-sample", num_cpus=0.5)
    stop_serving("wiki-sample")
    with pytest.raises(Exception, match="wiki-sample"):
        remote.search(QUERIES, 1)


@pytest.mark.slow
def test_s3_episode_over_an_index_served_by_ray(local_ray, tmp_path):
    from rlvr.data.s3_qa import load_s3_questions
    from rlvr.envs import build_env
    from rlvr.retrieval.ray_actor import serve_in_ray

    build_index(Corpus.from_jsonl("tests/fixtures/s3/wiki18_sample.jsonl"), "bm25").save(tmp_path / "idx")
    serve_in_ray(tmp_path / "idx", name="wiki-env", num_cpus=0.5)
    samples = load_s3_questions("tests/fixtures/s3/nq_sample.jsonl", index="ray://wiki-env", env={"topk": 1})
    env = build_env(samples[0].env)
    assert "Doc 1(Title: Vienna) Vienna is the capital of Austria." in env.reset(samples[0])[0]["content"]
