"""Logged rollouts: write -> load round trips, tokenization, grouping, order and resume, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlvr.data.errors import DataFormatError
from rlvr.data.logged import MAX_REPORTED_ERRORS
from rlvr.data.sample import RewardSpec, Sample
from rlvr.models.tiny import build_tokenizer
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import Completion
from rlvr.training.collect import RolloutBatch
from rlvr.training.logged import load_logged
from rlvr.training.rollout_log import rollout_rows, truncate_logged, write_logged


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def _online_batch(tok, step: int) -> RolloutBatch:
    """What the online trainer collects: a text prompt and a chat prompt, three completions each, one of
    them errored, 'stop' completions ending in EOS (which the text does not show)."""
    samples = [
        Sample(id="p0", prompt="1+1=", data_source="add", reward=RewardSpec("math", "2")),
        Sample(id="p1", messages=[{"role": "user", "content": "hi"}], data_source="chat"),
    ]
    prompt_ids = encode_prompts(tok, samples)
    batch = RolloutBatch(samples=samples)
    texts = [["2", "3", "22"], ["ok", "no", "x"]]
    for p, sample in enumerate(samples):
        for j, text in enumerate(texts[p]):
            stop = j != 2
            ids = _ids(tok, text) + ([tok.eos_token_id] if stop else [])
            logprobs = [-0.1 * (k + 1) - step - 0.01 * j for k in range(len(ids))]
            batch.completions.append(
                Completion(p, ids, logprobs, text, "stop" if stop else "length", list(prompt_ids[p]), j)
            )
            batch.requests.append(
                ScoreRequest(text, sample.reward, f"{sample.id}#{j}", len(ids), sample.data_source)
            )
            errored = p == 1 and j == 1
            result = RewardResult(0.0, None, {}, "boom") if errored else RewardResult(float(j == 0), j == 0)
            batch.results.append(result)
    return batch


def _assert_same(got: RolloutBatch, want: RolloutBatch) -> None:
    assert [(s.id, s.prompt, s.messages, s.data_source) for s in got.samples] == [
        (s.id, s.prompt, s.messages, s.data_source) for s in want.samples
    ]
    assert got.completions == want.completions  # ids, log-probs, text, finish reason, indices
    assert [(r.score, r.correct, r.error) for r in got.results] == [
        (r.score, r.correct, r.error) for r in want.results
    ]
    assert [(q.data_source, q.spec.verifier, q.completion, q.completion_tokens) for q in got.requests] == [
        (q.data_source, q.spec.verifier, q.completion, q.completion_tokens) for q in want.requests
    ]


def _row(**overrides):
    row = {"prompt": "1+1=", "completion": "2", "behaviour_logprobs": [-0.5], "reward": 1.0}
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not ...}


def _bad(path: Path, tok, match: str, **kwargs) -> str:
    with pytest.raises(DataFormatError) as info:
        load_logged(path, tok, **kwargs)
    assert re.search(match, str(info.value)), str(info.value)
    return str(info.value)


# ---- round trips -----------------------------------------------------------------------------------


def test_write_then_load_gives_back_the_online_batches(tmp_path, tok):
    path = tmp_path / "rollouts.jsonl"
    batches = {step: _online_batch(tok, step) for step in (1, 2)}
    for step, batch in batches.items():
        assert write_logged(path, batch, tok, step) == 6
    ds = load_logged(path, tok, shuffle=False)
    assert len(ds) == 4 and ds.num_completions == 12 and ds.has_logprobs
    for step in (1, 2):
        got = ds.next_batch(2)
        _assert_same(got, batches[step])
        assert got.results[0].info["step"] == step
        assert got.stats["rollout/logged_groups"] == 2.0
        assert got.stats["rollout/logged_errored"] == 1.0  # kept as an errored result, not dropped
    assert [json.loads(line)["reward"] for line in path.read_text().splitlines()][3:6] == [1.0, None, 0.0]


def test_parquet_round_trip_and_same_fingerprint_as_jsonl(tmp_path, tok, write_parquet):
    batch = _online_batch(tok, 3)
    jsonl = tmp_path / "r.jsonl"
    write_logged(jsonl, batch, tok, 3)
    parquet = write_parquet(tmp_path / "r.parquet", rollout_rows(batch, tok, 3))
    from_parquet = load_logged(parquet, tok, shuffle=False)
    _assert_same(from_parquet.next_batch(2), batch)
    assert from_parquet.fingerprint() == load_logged(jsonl, tok).fingerprint()


def test_text_only_rows_are_tokenized_like_online_prompts(tmp_path, tok, write_jsonl):
    rows = [
        _row(completion="42", behaviour_logprobs=[-1.0, -2.0]),
        _row(
            prompt=...,
            messages=[{"role": "user", "content": "hi"}],
            completion="ok",
            behaviour_logprobs=[-1, 0],
        ),
        _row(
            prompt=...,
            prompt_ids=_ids(tok, "ab"),
            completion=...,
            completion_ids=_ids(tok, "c") + [2],
            behaviour_logprobs=[-1, -2],
        ),
    ]
    batch = load_logged(write_jsonl(tmp_path / "t.jsonl", rows), tok, shuffle=False).next_batch(3)
    c0, c1, c2 = batch.completions
    assert c0.prompt_ids == _ids(tok, "1+1=") and c0.token_ids == _ids(tok, "42")
    assert c1.prompt_ids == _ids(tok, "U:hi\nA:")  # the chat template, with the generation prompt
    assert batch.samples[1].messages == [{"role": "user", "content": "hi"}]
    assert (batch.samples[2].prompt, c2.text, c2.token_ids[-1]) == ("ab", "c", tok.eos_token_id)  # decoded
    assert [c.finish_reason for c in batch.completions] == ["stop"] * 3
    assert [(r.score, r.correct) for r in batch.results] == [(1.0, None)] * 3  # correct: unknown, not guessed
    assert {q.data_source for q in batch.requests} == {"logged"}


def test_a_logged_batch_goes_through_collate_and_the_rollout_metrics(tmp_path, tok):
    from rlvr.training.batch import collate
    from rlvr.training.rollout_metrics import rollout_metrics

    path = tmp_path / "r.jsonl"
    write_logged(path, _online_batch(tok, 1), tok, 1)
    batch = load_logged(path, tok).next_batch(2)
    tokens = collate(batch.completions, tok.pad_token_id)
    assert tokens.size == 6 and tokens.behaviour_logprobs.sum() == pytest.approx(
        sum(sum(c.logprobs) for c in batch.completions)
    )
    metrics = rollout_metrics(batch.completions, batch.requests, batch.results)
    assert metrics["reward/all/error_count"] == 1.0 and metrics["reward/data_source/chat/count"] == 3.0
    assert metrics["reward/verifier/math/accuracy"] == pytest.approx(1 / 3)


# ---- grouping ---------------------------------------------------------------------------------------


def test_rows_group_by_group_field_and_by_prompt(tmp_path, tok, write_jsonl):
    rows = [
        _row(group="a", completion="1", reward=0.0),
        _row(prompt="2+2=", completion="4"),
        _row(group="a", completion="2", reward=1.0),
        _row(completion="9", reward=0.5),  # no group: a group of its prompt (rows 1 and 3 are group "a")
        _row(prompt="2+2=", completion="5", reward=0.0),
        _row(group=7, completion="3", id="x"),
    ]
    ds = load_logged(write_jsonl(tmp_path / "g.jsonl", rows), tok, shuffle=False)
    batch = ds.next_batch(len(ds))
    groups = [[(c.text, c.sample_index) for c in batch.completions if c.prompt_index == p] for p in range(4)]
    assert groups == [[("1", 0), ("2", 1)], [("4", 0), ("5", 1)], [("9", 0)], [("3", 0)]]
    assert [s.id for s in batch.samples] == ["a", "g-2", "g-4", "7"]
    assert batch.samples[0].metadata["logged_rows"] == [1, 3]
    assert batch.results[-1].info["id"] == "x" and batch.results[0].info["id"] == "g-1"


def test_group_with_two_prompts_is_an_error(tmp_path, tok, write_jsonl):
    rows = [_row(group="a"), _row(group="a", prompt="2+2=")]
    _bad(
        write_jsonl(tmp_path / "g.jsonl", rows),
        tok,
        r"g.jsonl row 2: field 'group' 'a': the prompt differs from that of row 1",
    )


# ---- order and resume -------------------------------------------------------------------------------


def _texts(batch: RolloutBatch) -> list[str]:
    return [c.text for c in batch.completions]


def test_each_epoch_visits_every_group_in_a_new_seeded_order(tmp_path, tok, write_jsonl):
    path = write_jsonl(tmp_path / "e.jsonl", [_row(prompt=f"{i}=", completion=str(i)) for i in range(6)])
    ds = load_logged(path, tok, seed=3)
    epochs = [_texts(ds.next_batch(6)) for _ in range(3)]
    assert all(sorted(e) == [str(i) for i in range(6)] for e in epochs)
    assert len({tuple(e) for e in epochs}) == 3  # reshuffled each epoch
    again = load_logged(path, tok, seed=3)
    assert _texts(again.next_batch(4)) + _texts(again.next_batch(4)) == epochs[0] + epochs[1][:2]
    assert again.epoch == 1
    assert _texts(load_logged(path, tok, seed=4).next_batch(6)) != epochs[0]


def test_state_dict_resumes_at_the_same_position(tmp_path, tok, write_jsonl):
    path = write_jsonl(tmp_path / "s.jsonl", [_row(prompt=f"{i}=", completion=str(i)) for i in range(5)])
    ds = load_logged(path, tok, seed=1)
    ds.next_batch(3), ds.next_batch(3)
    state = json.loads(json.dumps(ds.state_dict()))  # as a checkpoint stores it
    resumed = load_logged(path, tok, seed=99)  # the saved seed wins
    resumed.load_state_dict(state)
    assert [_texts(resumed.next_batch(3)) for _ in range(4)] == [_texts(ds.next_batch(3)) for _ in range(4)]

    other = write_jsonl(tmp_path / "o.jsonl", [_row(prompt=f"{i}=", completion="z") for i in range(5)])
    with pytest.raises(ValueError, match="saved position is for other logged data"):
        load_logged(other, tok).load_state_dict(state)
    load_logged(other, tok).load_state_dict(state, check_fingerprint=False)


def test_fingerprint_follows_the_content(tmp_path, tok, write_jsonl):
    rows = [_row(), _row(completion="3", reward=0.0)]
    fp = load_logged(write_jsonl(tmp_path / "a.jsonl", rows), tok).fingerprint()
    assert load_logged(write_jsonl(tmp_path / "b.jsonl", rows), tok).fingerprint() == fp
    rows[1]["reward"] = 0.5
    assert load_logged(write_jsonl(tmp_path / "c.jsonl", rows), tok).fingerprint() != fp


# ---- log-probs opt-out, truncation ------------------------------------------------------------------


def test_rows_without_logprobs_load_only_when_opted_out(tmp_path, tok, write_jsonl):
    path = write_jsonl(tmp_path / "n.jsonl", [_row(behaviour_logprobs=...), _row(completion="3")])
    _bad(path, tok, r"n.jsonl row 1: field 'behaviour_logprobs' missing; .*importance ratio")
    ds = load_logged(path, tok, require_logprobs=False, shuffle=False)
    batch = ds.next_batch(1)
    assert [c.logprobs for c in batch.completions] == [None, [-0.5]]
    assert batch.stats["rollout/logged_without_logprobs"] == 1.0 and not ds.has_logprobs


def test_truncate_removes_later_steps_and_a_torn_last_line(tmp_path, tok):
    path = tmp_path / "r.jsonl"
    for step in (1, 2, 3):
        write_logged(path, _online_batch(tok, step), tok, step)
    with path.open("a") as f:
        f.write('{"step": 4, "prom')  # a crash mid-write
    assert truncate_logged(path, 2) == 7
    assert {json.loads(line)["step"] for line in path.read_text().splitlines()} == {1, 2}
    assert len(load_logged(path, tok)) == 4


# ---- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (
            _row(prompt=...),
            r"row 1: field 'prompt' missing; expected one of 'prompt', 'messages' or 'prompt_ids'",
        ),
        (_row(completion=...), r"row 1: field 'completion' missing"),
        (_row(reward=...), r"row 1: field 'reward' missing; expected a number"),
        (_row(reward="1"), r"row 1: field 'reward': expected a number, got str '1'"),
        (
            _row(behaviour_logprobs=[-1, "x"]),
            r"row 1: field 'behaviour_logprobs' item 1: expected a list of numbers",
        ),
        (
            _row(behaviour_logprobs=[0.5]),
            r"row 1: field 'behaviour_logprobs' item 0 is 0.5; expected a finite",
        ),
        (_row(completion_ids=[1, True]), r"row 1: field 'completion_ids' item 1: expected a list of integer"),
        (_row(completion_ids=[9999]), r"row 1: field 'completion_ids' item 0 is token id 9999, outside"),
        (_row(prompt_ids=[]), r"row 1: field 'prompt_ids' is empty"),
        (_row(messages=[{"role": "user"}]), r"row 1: fields 'prompt' and 'messages' both set"),
        (
            _row(prompt=..., messages=[{"role": "user"}]),
            r"row 1: field 'messages' item 0 must be a dict with",
        ),
        (_row(finish_reason="eos"), r"row 1: field 'finish_reason': expected 'stop' or 'length', got str"),
        (_row(group=[1]), r"row 1: field 'group': expected a string or an integer, got list"),
        (_row(correct="yes"), r"row 1: field 'correct': expected true, false or null"),
        (
            _row(behavior_logprobs=[-1.0]),
            r"field 'behavior_logprobs' is not a logged-row field \(did you mean 'behaviour_logprobs'\?\)",
        ),
        (["not", "a", "row"], r"row 1: expected an object \(dict\), got list"),
    ],
)
def test_bad_row_names_file_row_and_field(tmp_path, tok, write_jsonl, row, match):
    path = write_jsonl(tmp_path / "bad.jsonl", [row])
    msg = _bad(path, tok, match)
    assert f"{path}: 1 of 1 rows are bad" in msg and f"{path} row 1:" in msg


def test_logprob_count_mismatch_names_both_lengths(tmp_path, tok, write_jsonl):
    rows = [_row(completion="42", behaviour_logprobs=[-1.0]), _row(completion_ids=[5, 6, 2])]
    msg = _bad(
        write_jsonl(tmp_path / "m.jsonl", rows),
        tok,
        r"m.jsonl row 1: field 'behaviour_logprobs' has length 1 but field 'completion', tokenized "
        r"without special tokens, has 2 tokens; .*give 'completion_ids'",
    )
    assert "m.jsonl row 2: field 'behaviour_logprobs' has length 1 but field 'completion_ids' has 3" in msg


def test_every_bad_row_is_reported_with_bad_json_by_line(tmp_path, tok):
    path = tmp_path / "many.jsonl"
    lines = [json.dumps(_row()), '{"prompt": "a",}', "", json.dumps(_row(reward=...)), json.dumps(_row())]
    path.write_text("\n".join(lines) + "\n")
    msg = _bad(path, tok, r"2 of 4 rows are bad, so nothing was loaded")
    assert re.search(rf"{re.escape(str(path))} line 2: invalid JSON \(.* at column \d+\)", msg)
    assert f"{path} row 4: field 'reward' missing" in msg


def test_many_bad_rows_are_capped_and_counted(tmp_path, tok, write_jsonl):
    path = write_jsonl(tmp_path / "cap.jsonl", [_row(reward="x") for _ in range(MAX_REPORTED_ERRORS + 7)])
    msg = _bad(path, tok, rf"{MAX_REPORTED_ERRORS + 7} of {MAX_REPORTED_ERRORS + 7} rows are bad")
    assert msg.count("field 'reward'") == MAX_REPORTED_ERRORS and msg.endswith(
        "... and 7 more problems (7 more bad rows)"
    )


def test_duplicate_ids_name_both_rows(tmp_path, tok, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [_row(id="a"), _row(id="b"), _row(id="a")])
    _bad(path, tok, r"d.jsonl row 3: field 'id': duplicate id 'a'; row 1 has the same id")


def test_empty_file_and_unknown_suffix(tmp_path, tok):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    _bad(empty, tok, rf"^{re.escape(str(empty))}: no rows; expected one logged completion per row")
    csv = tmp_path / "r.csv"
    csv.write_text("a,b\n")
    _bad(csv, tok, r"r.csv: expected a .jsonl or .parquet file")
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        load_logged(tmp_path / "missing.jsonl", tok)


def test_bad_parquet_row_names_row_and_field(tmp_path, tok, write_parquet):
    rows = [_row(), _row(behaviour_logprobs=[-1.0, -2.0])]
    _bad(
        write_parquet(tmp_path / "b.parquet", rows),
        tok,
        r"b.parquet row 2: field 'behaviour_logprobs' has length 2",
    )
