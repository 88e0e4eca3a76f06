"""The reward server's wire format: ``ScoreRequest`` and ``RewardResult`` as plain JSON.

Shared by the server and its client, so neither needs the other's dependencies. Ground truths and
infos may hold numpy or torch values, tuples, sets, dataclasses or non-finite floats; ``to_jsonable``
turns them into strict JSON (no ``NaN`` tokens): arrays and tensors become lists, tuples and sets
lists, non-finite floats the strings ``"nan"``, ``"inf"``, ``"-inf"``, anything else unknown its
``repr``. A result's ``score`` is decoded with ``float``, so a non-finite score survives the trip.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from rlvr.data.sample import RewardSpec
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult

_MAX_DEPTH = 64


def _float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def to_jsonable(obj: Any, _depth: int = 0) -> Any:
    """``obj`` as JSON-safe Python values (dict with str keys, list, str, int, float, bool, None)."""
    if _depth > _MAX_DEPTH:
        return repr(obj)
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return _float(float(obj))
    d = _depth + 1
    if isinstance(obj, Mapping):
        return {
            (k if isinstance(k, str) else str(to_jsonable(k, d))): to_jsonable(v, d) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [to_jsonable(v, d) for v in obj]
    if isinstance(obj, set | frozenset):
        items = [to_jsonable(v, d) for v in obj]
        try:
            return sorted(items)
        except TypeError:
            return items
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name), d) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, d)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    if isinstance(obj, PurePath):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        try:
            return to_jsonable(obj.tolist(), d)
        except Exception:
            pass
    return repr(obj)


def request_to_json(item: ScoreRequest) -> dict[str, Any]:
    spec = item.spec
    return {
        "completion": item.completion,
        "spec": {
            "verifier": spec.verifier,
            "ground_truth": to_jsonable(spec.ground_truth),
            "params": to_jsonable(spec.params or {}),
            "weight": _float(float(spec.weight)),
        },
        "sample_key": item.sample_key,
        "completion_tokens": int(item.completion_tokens),
        "data_source": item.data_source,
    }


def request_from_json(data: Mapping[str, Any]) -> ScoreRequest:
    spec = data["spec"]
    return ScoreRequest(
        completion=data["completion"],
        spec=RewardSpec(
            verifier=spec["verifier"],
            ground_truth=spec.get("ground_truth"),
            params=dict(spec.get("params") or {}),
            weight=float(spec.get("weight", 1.0)),
        ),
        sample_key=data.get("sample_key", ""),
        completion_tokens=int(data.get("completion_tokens", 0)),
        data_source=data.get("data_source", "default"),
    )


def result_to_json(result: RewardResult) -> dict[str, Any]:
    return {
        "score": _float(float(result.score)),
        "correct": None if result.correct is None else bool(result.correct),
        "info": to_jsonable(result.info),
        "error": result.error,
    }


def result_from_json(data: Mapping[str, Any]) -> RewardResult:
    return RewardResult(
        score=float(data["score"]),
        correct=data.get("correct"),
        info=dict(data.get("info") or {}),
        error=data.get("error"),
    )
