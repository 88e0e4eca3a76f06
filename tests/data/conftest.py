from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture
def write_jsonl() -> Callable[[Path, list[Any]], Path]:
    """Write rows as JSONL to a path; returns the path."""
    return _write_jsonl


@pytest.fixture
def write_parquet() -> Callable[[Path, list[dict[str, Any]]], Path]:
    """Write rows as Parquet (schema inferred by pyarrow); returns the path."""
    return _write_parquet


@pytest.fixture
def gsm8k_rows() -> list[dict[str, str]]:
    return [
        {
            "question": "Natalia sold 48 clips in April and half as many in May. How many in all?",
            "answer": "48/2 = 24\n48+24 = 72\n#### 72",
        },
        {
            "question": "A shop sells 1,200 pens a day. How many in 2 days?",
            "answer": "1200*2=2400\n#### 2,400",
        },
    ]


@pytest.fixture(autouse=True)
def _conversion_only(monkeypatch):
    """These tests check row conversion with made-up verifiers and parameters: the reward-spec check that
    ``rlvr.rewards`` registers (tested in tests/rewards/test_input_validation.py) stays out of them."""
    from rlvr.data import checks

    monkeypatch.setattr(checks, "SAMPLE_CHECKS", {})
