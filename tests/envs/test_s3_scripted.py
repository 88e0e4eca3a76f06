"""Scripted s3 warm-start episodes: rows are the episode so far (as the runner builds raw text) and the
next action; the query policies pick what they say."""

import random

import pytest

from rlvr.envs import build_env
from rlvr.envs.s3.scripted import COMPLETE, QUERY_POLICIES, named_entities, s3_scripted
from rlvr.retrieval import Hit

WORLD = {"people": 20, "cities": 5, "split": "train", "max_turns": 3}
ENV = {"topk": 3, "instructions": False, "chat": False}


def test_named_entities_are_titles_and_the_capitalised_words_they_do_not_contain():
    hits = [
        Hit(0, "0", "Zor Tel", "Zor Tel was born in Quen.", 1.0),
        Hit(1, "1", "Quen", "Quen lies in Drav.", 0.5),
        Hit(2, "2", "Zor Bel", "Zor Bel was born in Quen.", 0.2),
    ]
    assert named_entities(hits) == ["Zor Tel", "Quen", "Drav", "Zor Bel"]


def test_rows_replay_the_episode_as_raw_text_and_end_with_search_complete():
    rows = s3_scripted(40, seed=0, first_turn=0.5, questions=10, env=ENV, **WORLD)
    assert len(rows) == 40 and len({r.metadata["question"] for r in rows}) == 10
    first = [r for r in rows if r.response != COMPLETE]
    second = [r for r in rows if r.response == COMPLETE]
    assert len(first) == 19 and len(second) == 21
    for row in first:
        assert row.prompt.startswith(f"<question>\n{row.metadata['question']}\n</question>\n<information>\n")
        assert row.prompt.endswith("</information>\n") and row.response.startswith("<query>")
    for row in second:  # the first prompt, the query, its results: what the episode runner appends
        head, query, rest = row.prompt.partition("<query>")
        assert (
            query
            and rest.count("</query><information>\nDoc 1(") == 1
            and row.prompt.endswith("</information>\n")
        )


def test_entity_queries_name_what_the_results_name_and_rarely_the_bridge():
    rows = s3_scripted(200, seed=1, first_turn=1.0, questions=16, env=ENV, **WORLD)
    queries = [r.response.removeprefix("<query> ").removesuffix("</query>") for r in rows]
    assert all(q in r.prompt for q, r in zip(queries, rows, strict=True))
    bridge = sum(q == r.metadata["bridge"] for q, r in zip(queries, rows, strict=True))
    assert bridge == 28  # of 200: one entity in five to seven of a top-3 block is the bridge


def test_bridge_and_question_policies_and_an_unknown_one():
    (row,) = s3_scripted(1, seed=2, policy="bridge", first_turn=1.0, env=ENV, **WORLD)
    assert row.response == f"<query> {row.metadata['bridge']}</query>"  # the env strips the space
    (row,) = s3_scripted(1, seed=2, policy="question", first_turn=1.0, env=ENV, **WORLD)
    assert row.response == f"<query> {row.metadata['question']}</query>"
    with pytest.raises(
        ValueError, match=r"unknown query policy 'best'; known: \['bridge', 'entity', 'question'\]"
    ):
        s3_scripted(1, seed=2, policy="best", env=ENV, **WORLD)


def test_the_bridge_query_gains_what_naive_rag_misses():
    from rlvr.data import generate
    from rlvr.envs.s3.scripted import play

    samples = generate("multihop_world", size=16, seed=5, hops=[2], env=ENV, **WORLD)
    gains = []
    for sample in samples:
        env = build_env(sample.env)
        play(env, sample, QUERY_POLICIES["bridge"], random.Random(0))
        gains.append(env.score())
    assert gains == [1.0] * 16


def test_world_tokenizer_gives_a_name_one_token_and_round_trips_episode_text():
    from rlvr.envs.s3.tokenizer import world_tokenizer
    from rlvr.models.tiny import TinyModelConfig, tiny_tokenizer

    tok = tiny_tokenizer(TinyModelConfig(tokenizer="rlvr.envs.s3.tokenizer:world_tokenizer"))
    assert tok.padding_side == "left" and len(tok) == len(world_tokenizer()) == 1471
    (row,) = s3_scripted(
        1, seed=3, first_turn=0.0, people=1000, cities=100, filler=False, env=ENV, split="train"
    )
    text = row.prompt + row.response
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text and tok.unk_token_id not in ids and len(ids) < len(text) / 3
    bridge = row.metadata["bridge"]
    tokens = ["in", f" {bridge}", ".", "<", "query", ">", f" {bridge}", "<", "/", "query", ">"]
    assert tok.tokenize(f"in {bridge}.<query> {bridge}</query>") == tokens  # a name: one token, both places
    assert tok.decode(tok("Hello Quenby", add_special_tokens=False)["input_ids"]) == "<unk><unk>"


def test_a_saved_tokenizer_directory_also_names_the_tiny_models_tokenizer(tmp_path):
    from rlvr.envs.s3.tokenizer import world_tokenizer
    from rlvr.models.tiny import TinyModelConfig, tiny_tokenizer

    world_tokenizer().save_pretrained(tmp_path / "tok")
    tok = tiny_tokenizer(TinyModelConfig(tokenizer=str(tmp_path / "tok")))
    assert tok.padding_side == "left" and len(tok) == 1471
    assert tok.tokenize("<query> Trouthsain</query>") == [
        "<",
        "query",
        ">",
        " Trouthsain",
        "<",
        "/",
        "query",
        ">",
    ]
