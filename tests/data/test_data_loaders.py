"""Round trips through every file format, and the generic field mapping."""

from __future__ import annotations

import dataclasses

import datasets
import pytest

from rlvr.data import (
    FieldMapping,
    RewardSpec,
    Sample,
    load_hf,
    load_jsonl,
    load_parquet,
    sample_to_row,
    save_jsonl,
)


def _samples() -> list[Sample]:
    return [
        Sample(
            id="a",
            prompt="What is 2+2?",
            data_source="arith",
            reward=RewardSpec("math", "4", {"strict": True}, 0.5),
            response="<answer>4</answer>",
            metadata={"level": 1, "tags": ["easy"]},
        ),
        Sample(
            id="b",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
            reward=RewardSpec("exact_match", "hi"),
        ),
    ]


def test_jsonl_round_trip(tmp_path):
    path = save_jsonl(_samples(), tmp_path / "sub" / "out.jsonl")
    assert load_jsonl(path) == _samples()
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left behind


def test_jsonl_native_defaults_and_blank_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"prompt": "p1"}\n\n{"prompt": "p2", "reward": {"verifier": "math", "ground_truth": "3"}}\n'
    )
    s1, s2 = load_jsonl(path)
    assert (s1.id, s1.reward.verifier, s1.data_source) == ("d-1", "exact_match", "default")
    assert (s2.id, s2.reward.ground_truth) == ("d-3", "3")  # ids count lines


def test_parquet_round_trip(tmp_path, write_parquet):
    # Arrow unifies the rows' structs (row "b" gets metadata {"level": None, "tags": None}); the
    # loader drops those Nones, so heterogeneous native rows come back equal.
    path = write_parquet(tmp_path / "d.parquet", [sample_to_row(s) for s in _samples()])
    assert load_parquet(path) == _samples()


def test_hf_save_to_disk_round_trip(tmp_path):
    datasets.Dataset.from_list([sample_to_row(s) for s in _samples()]).save_to_disk(tmp_path / "ds")
    assert load_hf(tmp_path / "ds") == _samples()


def test_hf_dataset_dict_split(tmp_path, gsm8k_rows):
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(gsm8k_rows), "test": datasets.Dataset.from_list(gsm8k_rows[:1])}
    )
    dd.save_to_disk(tmp_path / "gsm8k")
    test = load_hf(tmp_path / "gsm8k", split="test", mapping=FieldMapping.gsm8k())
    assert [s.reward.ground_truth for s in test] == ["72"]
    with pytest.raises(ValueError, match=r"no split 'validation'; splits: train, test"):
        load_hf(tmp_path / "gsm8k", split="validation", mapping=FieldMapping.gsm8k())


def test_hf_local_files(tmp_path, gsm8k_rows, write_jsonl, write_parquet):
    jsonl = write_jsonl(tmp_path / "gsm.jsonl", gsm8k_rows)
    parquet = write_parquet(tmp_path / "gsm.parquet", gsm8k_rows)
    by_builder = load_hf("json", mapping=FieldMapping.gsm8k(), data_files=str(jsonl))
    by_path = load_hf(parquet, mapping=FieldMapping.gsm8k())
    assert [s.reward.ground_truth for s in by_builder] == ["72", "2400"]
    assert [dataclasses.replace(s, id="") for s in by_builder] == [
        dataclasses.replace(s, id="") for s in by_path
    ]
    assert by_builder[0].id == "gsm-1"


def test_gsm8k_mapping(tmp_path, gsm8k_rows, write_jsonl):
    (s1, s2) = load_jsonl(write_jsonl(tmp_path / "gsm8k.jsonl", gsm8k_rows), FieldMapping.gsm8k())
    assert s1.prompt == gsm8k_rows[0]["question"]
    assert s1.reward == RewardSpec("math", "72")
    assert s2.reward.ground_truth == "2400"
    assert s1.data_source == "gsm8k" and s1.metadata == {}


def test_field_mapping_chat_template_and_nested_keys(tmp_path, write_jsonl):
    rows = [{"uid": 7, "q": {"text": "2+3?"}, "sol": {"final": 5}, "src": "toy", "resp": "5", "extra": 1}]
    mapping = FieldMapping(
        prompt_key="q.text",
        answer_key="sol.final",
        id_key="uid",
        data_source_key="src",
        response_key="resp",
        verifier="math",
        verifier_params={"tolerance": 0.1},
        system_prompt="You are careful.",
        prompt_template="Solve {prompt} Put it in \\boxed{}.",
    )
    (s,) = load_jsonl(write_jsonl(tmp_path / "x.jsonl", rows), mapping)
    assert s.id == "7" and s.data_source == "toy" and s.response == "5"
    assert s.messages == [
        {"role": "system", "content": "You are careful."},
        {"role": "user", "content": "Solve 2+3? Put it in \\boxed{}."},
    ]
    assert s.reward == RewardSpec("math", 5, {"tolerance": 0.1})
    assert s.metadata == {"extra": 1}


def test_field_mapping_messages_key_and_default_metadata(tmp_path, write_jsonl):
    rows = [
        {"conv": [{"role": "user", "content": "hi"}], "label": "hello", "lang": "en"},
        {"text": "plain", "label": "x", "lang": "fr"},
    ]
    mapping = FieldMapping(messages_key="conv", prompt_key="text", answer_key="label")
    s1, s2 = load_jsonl(write_jsonl(tmp_path / "m.jsonl", rows), mapping)
    assert s1.messages == [{"role": "user", "content": "hi"}] and s1.metadata == {"lang": "en"}
    assert s2.prompt == "plain" and s2.metadata == {"lang": "fr"}
    only = FieldMapping(messages_key="conv", prompt_key="text", answer_key="label", metadata_keys=["label"])
    assert [s.metadata for s in load_jsonl(tmp_path / "m.jsonl", only)] == [
        {"label": "hello"},
        {"label": "x"},
    ]


def test_prompt_template_needs_placeholder():
    with pytest.raises(ValueError, match=r"must contain '\{prompt\}'"):
        FieldMapping(prompt_template="no placeholder")
