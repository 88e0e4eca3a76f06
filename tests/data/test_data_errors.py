"""Bad input fails loudly, naming the file, the row and the field."""

from __future__ import annotations

import re

import pytest

from rlvr.data import DataFormatError, FieldMapping, load_jsonl, load_parquet, load_verl


def _raises(fn, *args, match: str):
    with pytest.raises(DataFormatError) as info:
        fn(*args)
    assert re.search(match, str(info.value)), str(info.value)
    return str(info.value)


def test_missing_prompt_names_file_row_field(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "train.jsonl", [{"id": "1", "prompt": "a"}, {"id": "2"}])
    msg = _raises(
        load_jsonl, path, match=r"row 2: field 'prompt' missing; expected one of 'prompt' or 'messages'"
    )
    assert msg.startswith(f"{path} row 2")


def test_bad_json_line_names_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "a"}\n\n{"prompt": "b",}\n')
    _raises(load_jsonl, path, match=rf"^{re.escape(str(path))} line 3: invalid JSON \(.* at column \d+\)")


def test_non_object_line(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "x.jsonl", [["not", "a", "dict"]])
    _raises(load_jsonl, path, match=r"x.jsonl row 1: expected an object \(dict\), got list")


def test_duplicate_ids_name_both_rows(tmp_path, write_jsonl):
    rows = [{"id": "a", "prompt": "p"}, {"id": "b", "prompt": "p"}, {"id": "a", "prompt": "q"}]
    _raises(
        load_jsonl,
        write_jsonl(tmp_path / "d.jsonl", rows),
        match=r"d.jsonl row 3: duplicate id 'a'; row 1 has the same id",
    )


def test_duplicate_ids_in_parquet(tmp_path, write_parquet):
    rows = [{"q": "x", "answer": "1", "k": 5}, {"q": "y", "answer": "2", "k": 5}]
    path = write_parquet(tmp_path / "d.parquet", rows)
    _raises(
        load_parquet,
        path,
        FieldMapping(prompt_key="q", id_key="k"),
        match=r"d.parquet row 2: duplicate id '5'; row 1",
    )


def test_wrong_types(tmp_path, write_jsonl):
    cases = [
        ({"prompt": 3}, r"row 1: field 'prompt' must be a string, got int"),
        (
            {"messages": [{"role": "user"}]},
            r"row 1: field 'messages' item 0 must be a dict with 'role' and 'content'",
        ),
        (
            {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
            r"fields 'prompt' and 'messages' both set",
        ),
        ({"prompt": "a", "reward": {"ground_truth": "1"}}, r"field 'reward.verifier' missing"),
        (
            {"prompt": "a", "reward": {"verifier": "math", "weight": "x"}},
            r"field 'reward.weight' must be a number, got str",
        ),
        (
            {"prompt": "a", "reward": {"verifier": "math", "gt": "1"}},
            r"field 'reward.gt' is not a reward field",
        ),
        ({"prompt": "a", "metadata": [1]}, r"field 'metadata' must be a dict, got list"),
        ({"prompt": "a", "question": "b"}, r"field 'question' is not an rlvr row field; expected id, prompt"),
    ]
    for i, (row, match) in enumerate(cases):
        _raises(load_jsonl, write_jsonl(tmp_path / f"c{i}.jsonl", [row]), match=match)


def test_mapping_errors(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "gsm8k.jsonl", [{"question": "q", "answer": "#### 1"}, {"question": "q2", "answer": "12"}]
    )
    _raises(
        load_jsonl,
        path,
        FieldMapping.gsm8k(),
        match=r"gsm8k.jsonl row 2: field 'answer' has no '#### <final answer>' marker",
    )
    path = write_jsonl(tmp_path / "noq.jsonl", [{"text": "q", "answer": "1"}])
    _raises(
        load_jsonl,
        path,
        FieldMapping(prompt_key="question", messages_key="conv"),
        match=r"noq.jsonl row 1: field 'question' missing; expected one of 'question' or 'conv'",
    )
    path = write_jsonl(tmp_path / "noa.jsonl", [{"prompt": "q"}])
    _raises(load_jsonl, path, FieldMapping(), match=r"noa.jsonl row 1: field 'answer' missing")


def test_verl_errors(tmp_path, write_jsonl):
    row = {
        "data_source": "gsm8k",
        "prompt": [{"role": "user", "content": "q"}],
        "reward_model": {"style": "rule"},
    }
    _raises(
        load_verl,
        write_jsonl(tmp_path / "v.jsonl", [row]),
        match=r"v.jsonl row 1: field 'reward_model.ground_truth' missing",
    )
    del row["reward_model"]
    _raises(
        load_verl,
        write_jsonl(tmp_path / "w.jsonl", [row]),
        match=r"w.jsonl row 1: field 'reward_model' missing",
    )
    _raises(load_verl, tmp_path / "v.csv", match=r"expected a .parquet or .jsonl file")


def test_empty_missing_and_corrupt_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    _raises(load_jsonl, tmp_path / "empty.jsonl", match=r"empty.jsonl: no rows")
    with pytest.raises(FileNotFoundError, match=r"dataset file '.*nope.jsonl' not found"):
        load_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "bad.parquet").write_text("not parquet")
    _raises(load_parquet, tmp_path / "bad.parquet", match=r"bad.parquet: cannot read as Parquet")
