"""Loader for s3's released question files (FlashRAG-style JSONL: NQ, HotpotQA, ...) as s3 episodes.

A row: ``{"id", "question", "golden_answers": [...]}`` (``answers`` or ``target`` also accepted).
The corpus (wiki-18 JSONL, ``{"id", "contents": "\\"Title\\"\\nText"}``) is indexed once with
``rlvr index build``; the episodes name that index directory.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from rlvr.data.generators import GENERATORS
from rlvr.data.sample import EnvSpec, RewardSpec, Sample

_ANSWER_KEYS = ("golden_answers", "answers", "target")


def load_s3_questions(
    path: str | Path,
    index: str,
    max_turns: int = 3,
    env: dict[str, Any] | None = None,
    data_source: str | None = None,
    limit: int | None = None,
) -> list[Sample]:
    """s3 episodes for the questions in ``path``, retrieving from the saved index ``index``."""
    source = data_source or Path(path).stem
    samples: list[Sample] = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            if limit is not None and len(samples) >= limit:
                break
            row = json.loads(line)
            where = f"{path}:{line_no}"
            if not isinstance(row, dict) or not isinstance(row.get("question"), str):
                raise ValueError(f"{where}: expected an object with a 'question' string")
            key = next((k for k in _ANSWER_KEYS if k in row), None)
            if key is None:
                raise ValueError(f"{where}: no answers; expected one of {', '.join(_ANSWER_KEYS)}")
            answers = row[key] if isinstance(row[key], list) else [row[key]]
            if not answers:
                raise ValueError(f"{where}: field {key!r} is empty")
            question = row["question"].strip()
            samples.append(
                Sample(
                    id=str(row.get("id", f"{source}-{line_no}")),
                    prompt=question,
                    data_source=source,
                    reward=RewardSpec(verifier="env", ground_truth=[str(a) for a in answers]),
                    metadata={"question": question, "answers": [str(a) for a in answers]},
                    env=EnvSpec("s3", {"index": index, **(env or {})}, max_turns),
                )
            )
    return samples


@GENERATORS.register("s3_questions")
def s3_questions(size: int, seed: int, path: str, index: str, **kwargs: Any) -> list[Sample]:
    """``size`` questions of an s3 question file, drawn with ``seed`` (a ``synthetic`` dataset spec)."""
    samples = load_s3_questions(path, index, **kwargs)
    if size > len(samples):
        raise ValueError(f"s3_questions: size={size} but {path} has {len(samples)} questions")
    return random.Random(seed).sample(samples, size)
