"""The s3 environment over the synthetic world, scored by GBR with the deterministic world reader."""

import pytest

from rlvr.data import generate
from rlvr.envs import build_env
from rlvr.envs.s3 import RAG_CACHE, drop_rag_answered, rag_filtered
from rlvr.envs.s3.actions import parse_action

WORLD = {"seed": 0, "people": 40, "cities": 10, "nations": 4}


def _episode(hops, **env):
    sample = generate(
        "multihop_world",
        size=1,
        seed=5,
        hops=[hops],
        env=env,
        **{k: WORLD[k] for k in ("people", "cities", "nations")},
    )[0]
    env_obj = build_env(sample.env)
    return sample, env_obj, env_obj.reset(sample)


def test_parse_action_reads_json_query_selection_and_completion():
    a = parse_action(
        '<think>x</think><important_info>[2, 1, 2]</important_info><search_complete>False</search_complete><query>{"query": "Quenby"}</query>'
    )
    assert (a.query, a.important, a.complete, a.valid) == ("Quenby", [2, 1], False, True)
    assert parse_action("<query>plain words</query>").query == "plain words"
    done = parse_action("<important_info>[3]</important_info><search_complete>True</search_complete>")
    assert (done.query, done.important, done.complete) == (None, [3], True)
    assert not parse_action("I think we are done").valid


def test_bridge_search_turns_a_two_hop_failure_into_gain_one():
    sample, env, first = _episode(2)
    question = sample.metadata["question"]
    assert question in first[0]["content"] and first[0]["content"].count("Doc ") == 3
    bridge = sample.metadata["bridge"]
    step = env.step(
        f'<important_info>[1]</important_info><search_complete>False</search_complete><query>{{"query": "{bridge}"}}</query>'
    )
    assert (
        not step.done and step.reward == 0.0 and f"Doc 1(Title: {bridge})" in step.observation[0]["content"]
    )
    assert step.metrics["new_docs"] >= 1
    end = env.step("<important_info>[1]</important_info><search_complete>True</search_complete>")
    assert end.done and end.metrics["acc_rag"] == 0.0 and end.metrics["acc_s3"] == 1.0
    by_source = {k: v for k, v in end.metrics.items() if k.startswith("multihop_2hop/")}
    assert by_source == {"multihop_2hop/gbr": 1.0, "multihop_2hop/acc_s3": 1.0, "multihop_2hop/acc_rag": 0.0}
    assert env.score() == 1.0 and end.metrics["docs_selected"] == 2.0 and end.metrics["queries"] == 1.0
    assert [d.title for d in env.selected_docs()] == [env.rag_docs[0].title, bridge]


def test_stopping_at_once_gives_zero_and_malformed_actions_are_penalised():
    _, env, _ = _episode(2, format_penalty=0.25)
    bad = env.step("hmm, not sure")
    assert bad.reward == -0.25 and not bad.done and bad.metrics["format_error"] == 1.0
    assert env.step("<search_complete>True</search_complete>").done
    assert env.score() == 0.0  # all naive-RAG docs kept (no selection), still no answer
    _, env, _ = _episode(1, reward="generation")
    env.step("<important_info>[1]</important_info><search_complete>True</search_complete>")
    assert env.score() == 1.0  # ablation: the generator's accuracy alone


def test_selected_docs_are_deduplicated_and_rag_accuracy_is_cached():
    sample, env, _ = _episode(2)
    name = sample.metadata["question"].split("of ")[-1].rstrip("?")
    env.step(
        f'<important_info>[1]</important_info><query>{{"query": "{name}"}}</query>'
    )  # the same person doc again
    env.step("<important_info>[1, 1]</important_info><search_complete>True</search_complete>")
    assert [d.title for d in env.selected_docs()] == [name]
    RAG_CACHE.clear()
    env.rag_accuracy()
    assert len(RAG_CACHE) == 1


def test_filter_drops_every_one_hop_question_naive_rag_answers():
    samples = generate("multihop_world", size=20, seed=2, people=40, cities=10, nations=4)
    hop1 = sum(s.metadata["hops"] == 1 for s in samples)
    kept, dropped = drop_rag_answered(samples)
    assert dropped == hop1 > 0 and all(s.metadata["hops"] == 2 for s in kept)
    assert len(rag_filtered(size=5, seed=2, people=40, cities=10, nations=4)) == 5


def test_env_rejects_missing_source():
    with pytest.raises(ValueError, match="exactly one of 'world'"):
        from rlvr.envs.s3 import S3Env

        S3Env()


def test_the_last_allowed_turn_reports_the_final_metrics():
    _, env, _ = _episode(2)  # max_turns 3
    assert "gbr" not in env.step("nothing").metrics
    assert "gbr" not in env.step("nothing").metrics
    last = env.step("still nothing")
    assert last.metrics["gbr"] == 0.0 and last.metrics["acc_rag"] == 0.0 and env.score() == 0.0
