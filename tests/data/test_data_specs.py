"""DatasetSpec: the union keyed on ``type``, each variant end to end, limit and shuffle."""

from __future__ import annotations

import datasets
import pytest
from pydantic import ValidationError

from rlvr.data import (
    GENERATORS,
    DataFormatError,
    HFDatasetSpec,
    JsonlDatasetSpec,
    ReasoningGymDatasetSpec,
    RewardSpec,
    Sample,
    SyntheticDatasetSpec,
    load_dataset_spec,
    load_dataset_specs,
    parse_dataset_spec,
)
from rlvr.registry import UnknownNameError


@GENERATORS.register("tests_data_addition")
def _addition(size: int, seed: int, max_value: int = 9) -> list[Sample]:
    import random

    rng = random.Random(seed)
    samples = []
    for i in range(size):
        a, b = rng.randint(0, max_value), rng.randint(0, max_value)
        samples.append(
            Sample(id=f"add-{seed}-{i}", prompt=f"{a}+{b}=", reward=RewardSpec("exact_match", str(a + b)))
        )
    return samples


def test_parse_picks_variant_by_type():
    spec = parse_dataset_spec({"type": "reasoning_gym", "tasks": {"chain_sum": 2, "gcd": 1}, "size": 4})
    assert isinstance(spec, ReasoningGymDatasetSpec)
    assert [(t.name, t.weight) for t in spec.tasks] == [("chain_sum", 2.0), ("gcd", 1.0)]
    assert parse_dataset_spec({"type": "reasoning_gym", "tasks": "gcd", "size": 1}).tasks[0].name == "gcd"
    mixed = parse_dataset_spec(
        {"type": "reasoning_gym", "tasks": ["gcd", {"name": "lcm", "weight": 3}], "size": 1}
    )
    assert [(t.name, t.weight) for t in mixed.tasks] == [("gcd", 1.0), ("lcm", 3.0)]
    assert isinstance(parse_dataset_spec({"type": "hf", "name": "openai/gsm8k"}), HFDatasetSpec)


def test_parse_errors_name_field_and_choices():
    with pytest.raises(ValidationError, match=r"'csv' .* expected tags: 'jsonl', 'parquet', 'hf', 'verl'"):
        parse_dataset_spec({"type": "csv", "path": "x"})
    with pytest.raises(ValidationError, match=r"jsonl\.pathh\s+Extra inputs are not permitted"):
        parse_dataset_spec({"type": "jsonl", "pathh": "x"})
    with pytest.raises(ValidationError, match=r"mapping\.promt_key"):
        parse_dataset_spec({"type": "jsonl", "path": "x", "mapping": {"promt_key": "q"}})
    with pytest.raises(ValidationError, match=r"limit"):
        parse_dataset_spec({"type": "jsonl", "path": "x", "limit": 0})


def test_file_specs(tmp_path, gsm8k_rows, write_jsonl, write_parquet):
    jsonl = write_jsonl(tmp_path / "gsm.jsonl", gsm8k_rows)
    parquet = write_parquet(tmp_path / "gsm.parquet", gsm8k_rows)
    datasets.Dataset.from_list(gsm8k_rows).save_to_disk(tmp_path / "gsm_ds")
    mapping = {"prompt_key": "question", "answer_transform": "gsm8k_final", "verifier": "math"}
    for spec in (
        {"type": "jsonl", "path": str(jsonl), "mapping": mapping},
        {"type": "parquet", "path": str(parquet), "mapping": mapping},
        {"type": "hf", "name": str(tmp_path / "gsm_ds"), "mapping": mapping},
        {"type": "hf", "name": "json", "data_files": str(jsonl), "mapping": mapping},
    ):
        assert [s.reward.ground_truth for s in load_dataset_spec(spec)] == ["72", "2400"], spec


def test_verl_spec(tmp_path, write_parquet):
    row = {
        "data_source": "gsm8k",
        "prompt": [{"role": "user", "content": "q"}],
        "reward_model": {"style": "rule", "ground_truth": "1"},
        "extra_info": {"index": 0},
    }
    path = write_parquet(tmp_path / "v.parquet", [row])
    (s,) = load_dataset_spec({"type": "verl", "path": str(path), "mapping": {"math_verifier": "math_v2"}})
    assert s.reward.verifier == "math_v2" and s.id == "gsm8k-0"


def test_synthetic_and_reasoning_gym_specs():
    samples = load_dataset_spec(
        {"type": "synthetic", "generator": "tests_data_addition", "size": 5, "seed": 3}
    )
    assert len(samples) == 5 and samples == load_dataset_spec(
        SyntheticDatasetSpec(generator="tests_data_addition", size=5, seed=3)
    )
    rg = load_dataset_spec(
        {"type": "synthetic", "generator": "reasoning_gym", "size": 2, "kwargs": {"tasks": "gcd"}}
    )
    assert [s.reward.verifier for s in rg] == ["reasoning_gym"] * 2
    rg2 = load_dataset_spec({"type": "reasoning_gym", "tasks": "gcd", "size": 2, "system_prompt": "Think."})
    assert rg2[0].messages[0] == {"role": "system", "content": "Think."}


def test_unknown_generator_lists_known():
    with pytest.raises(UnknownNameError, match=r"unknown data generator 'nope'; known: .*reasoning_gym"):
        load_dataset_spec({"type": "synthetic", "generator": "nope", "size": 1})


def test_generator_must_return_size_samples():
    with pytest.raises(ValueError, match=r"returned 3 samples; size=4"):
        load_dataset_spec({"type": "synthetic", "generator": f"{__name__}:_three", "size": 4})


def _three(size: int, seed: int) -> list[Sample]:
    return _addition(3, seed)


def test_shuffle_and_limit(tmp_path, write_jsonl):
    rows = [{"id": str(i), "prompt": f"p{i}"} for i in range(20)]
    path = str(write_jsonl(tmp_path / "d.jsonl", rows))
    assert [s.id for s in load_dataset_spec(JsonlDatasetSpec(path=path, limit=3))] == ["0", "1", "2"]
    a = load_dataset_spec({"type": "jsonl", "path": path, "shuffle_seed": 1, "limit": 5})
    b = load_dataset_spec({"type": "jsonl", "path": path, "shuffle_seed": 1, "limit": 5})
    c = load_dataset_spec({"type": "jsonl", "path": path, "shuffle_seed": 2})
    assert a == b and len(c) == 20 and [s.id for s in a] != ["0", "1", "2", "3", "4"]
    assert sorted(int(s.id) for s in c) == list(range(20))


def test_load_dataset_specs_rejects_duplicate_ids_across_specs(tmp_path, write_jsonl):
    path = str(write_jsonl(tmp_path / "d.jsonl", [{"id": "x", "prompt": "p"}]))
    spec = {"type": "jsonl", "path": path}
    gen = {"type": "synthetic", "generator": "tests_data_addition", "size": 2}
    assert len(load_dataset_specs([spec, gen])) == 3
    with pytest.raises(DataFormatError, match=rf"duplicate id 'x': in jsonl {path} and in jsonl {path}"):
        load_dataset_specs([spec, spec])
