"""Inputs that fail before a run starts: ``rlvr train`` exits 2 with a message naming file, row and field,
and no run directory is made (nothing loaded a model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr.cli import main
from rlvr.data.errors import DataFormatError
from rlvr.data.loaders import load_jsonl
from rlvr.data.sample import RewardSpec
from rlvr.rewards.schemas import check_reward_spec

GOOD = {"prompt": "1+1=", "reward": {"verifier": "math", "ground_truth": "2"}}

# (case, JSONL line(s) of row 2 as bytes, expected message after "<file> row 2: " / "line 2: ")
BAD_ROWS = [
    ("unknown verifier", {"prompt": "p", "reward": {"verifier": "mathh", "ground_truth": "2"}},
     "row 2: reward.verifier: unknown verifier 'mathh'; known: choice, code, combined"),
    ("unimportable verifier", {"prompt": "p", "reward": {"verifier": "no_such_mod:f", "ground_truth": "2"}},
     "row 2: reward.verifier: cannot import module 'no_such_mod' named by 'no_such_mod:f': No module named 'no_such_mod'"),
    ("code with a string", {"prompt": "p", "reward": {"verifier": "code", "ground_truth": "print(1)"}},
     "row 2: reward.ground_truth: code needs {'tests': [{'input': str, 'output': str}, ...]}"),
    ("code test without output", {"prompt": "p", "reward": {"verifier": "code", "ground_truth": {"tests": [{"input": "1"}]}}},
     "row 2: reward.ground_truth: code's tests[0] needs keys ['input', 'output']"),
    ("math with a list", {"prompt": "p", "reward": {"verifier": "math", "ground_truth": ["1", "2"]}},
     "row 2: reward.ground_truth: math needs the answer as a non-empty string or a number, got list"),
    ("unknown parameter", {"prompt": "p", "reward": {"verifier": "math", "ground_truth": "1", "params": {"tol": 1}}},
     "row 2: reward.params: math takes no parameter 'tol'; it takes ['answer_tag', 'timeout_s']"),
    ("bad combined component", {"prompt": "p", "reward": {"verifier": "combined", "ground_truth": "1", "params": {"components": [{"verifier": "format"}, {"verifier": "mathh"}]}}},
     "row 2: reward.params.components[1].verifier: unknown verifier 'mathh'"),
    ("NaN in a row", b'{"prompt": "p", "reward": {"verifier": "math", "ground_truth": "1", "weight": NaN}}',
     "line 2: non-finite number NaN; data must hold finite numbers"),
    ("1e999 in a row", b'{"prompt": "p", "reward": {"verifier": "math", "ground_truth": 1e999}}',
     "row 2: reward.ground_truth: non-finite number; data must hold finite numbers"),
    ("non-UTF-8 byte", b'{"prompt": "caf\xe9", "reward": {"verifier": "math", "ground_truth": "1"}}',
     "line 2: byte 0xe9 at column 16 is not UTF-8; save the file as UTF-8"),
    ("prompt over the context", {"prompt": "9" * 80, "reward": {"verifier": "math", "ground_truth": "1"}},
     "row 2: prompt: 80 tokens; the model's context is 64 tokens and rollout.max_new_tokens=10, so a prompt may have at most 54"),
]  # fmt: skip


def _write(tmp_path: Path, row: dict | bytes) -> Path:
    path = tmp_path / "train.jsonl"
    line = row if isinstance(row, bytes) else json.dumps(row).encode()
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + line + b"\n")
    return path


def _recipe(tmp_path: Path, data: Path) -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: bad-input\n"
        "model:\n  tiny: {hidden_size: 16, intermediate_size: 32, num_layers: 1, num_heads: 2, max_positions: 64}\n"
        f"data:\n  train:\n    - {{type: jsonl, path: {data}}}\n"
        "rollout: {n: 2, max_new_tokens: 10}\n"
        f"trainer: {{steps: 1, prompts_per_step: 1, output_dir: {tmp_path / 'runs'}}}\n"
    )
    return recipe


@pytest.mark.parametrize(("case", "row", "message"), BAD_ROWS, ids=[c for c, _, _ in BAD_ROWS])
def test_bad_row_stops_rlvr_train_with_exit_2(case, row, message, tmp_path, capsys):
    data = _write(tmp_path, row)
    assert main(["train", str(_recipe(tmp_path, data))]) == 2
    err = capsys.readouterr().err
    assert f"rlvr train: {data} {message}" in err, err
    assert not (tmp_path / "runs").exists()  # failed before a run directory (or a model) was made


def test_good_rows_pass_and_checks_apply_to_every_loader(tmp_path):
    assert len(load_jsonl(_write(tmp_path, GOOD | {"id": "b"}))) == 2
    with pytest.raises(DataFormatError, match=r"train.jsonl row 2: reward.verifier"):
        load_jsonl(_write(tmp_path, BAD_ROWS[0][1]))


def test_schemas_of_the_builtin_verifiers():
    ok = [
        RewardSpec("code", {"fn_name": "f", "tests": [{"args": [1], "expected": 2}]}),
        RewardSpec("math", 72),
        RewardSpec("exact_match", ["Paris", "paris"]),
        RewardSpec("reasoning_gym", {"task": "chain_sum", "entry": {}}),
        RewardSpec("choice", "B"),
        RewardSpec("format", None),
        RewardSpec(
            "combined", "1", {"components": [{"verifier": "math", "weight": 0.9}, {"verifier": "format"}]}
        ),
    ]
    assert [check_reward_spec(s) for s in ok] == [None] * len(ok)
    assert check_reward_spec(RewardSpec("exact_match", 3)) == (
        "reward.ground_truth",
        "needs a string or a non-empty list of strings, got int 3",
    )
