"""What each verifier accepts as ground truth and parameters, checked when data loads (not when it scores).

``GROUND_TRUTHS`` maps a verifier name to a check ``(ground_truth) -> None | what is wrong``; a verifier
without one accepts any ground truth. ``check_reward_spec`` also checks that the verifier exists
(registered or an importable ``module:attr``) and takes the given parameters, recursing into
``combined`` components. A ground truth of None (none given: SFT-only rows) is not checked. Importing ``rlvr.rewards`` registers it with ``rlvr.data.checks``, so every
loader rejects such a row naming its file, row and field.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from rlvr.data.checks import register_sample_check
from rlvr.data.sample import RewardSpec, Sample
from rlvr.rewards.types import VERIFIERS

GroundTruthCheck = Callable[[Any], "str | None"]
GROUND_TRUTHS: dict[str, GroundTruthCheck] = {}


def ground_truth_schema(*names: str) -> Callable[[GroundTruthCheck], GroundTruthCheck]:
    """Declare ``check`` as the ground-truth schema of the verifiers ``names``."""

    def decorator(check: GroundTruthCheck) -> GroundTruthCheck:
        for name in names:
            GROUND_TRUTHS[name] = check
        return check

    return decorator


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


@ground_truth_schema("math")
def _math(gt: Any) -> str | None:
    if isinstance(gt, str) and gt.strip() or isinstance(gt, int | float) and not isinstance(gt, bool):
        return None
    return f"math needs the answer as a non-empty string or a number, got {_kind(gt)}"


@ground_truth_schema("exact_match", "f1")
def _strings(gt: Any) -> str | None:
    if isinstance(gt, str) or isinstance(gt, list) and gt and all(isinstance(x, str) for x in gt):
        return None
    return f"needs a string or a non-empty list of strings, got {_kind(gt)}"


@ground_truth_schema("choice")
def _letter(gt: Any) -> str | None:
    if isinstance(gt, str) and gt.strip():
        return None
    return f"choice needs the option letter as a string ('B' or '(B)'), got {_kind(gt)}"


@ground_truth_schema("reasoning_gym")
def _gym(gt: Any) -> str | None:
    if isinstance(gt, dict) and {"task", "entry"} <= gt.keys():
        return None
    return f"reasoning_gym needs {{'task': ..., 'entry': ...}}, got {_kind(gt)}"


@ground_truth_schema("code")
def _code(gt: Any) -> str | None:
    shape = "{'tests': [{'input': str, 'output': str}, ...]} or {'fn_name': str, 'tests': [{'args': [...], 'expected': ...}, ...]}"
    if not isinstance(gt, dict) or not isinstance(gt.get("tests"), list) or not gt["tests"]:
        return f"code needs {shape}, got {_kind(gt)}"
    keys = {"expected"} if gt.get("fn_name") else {"input", "output"}
    if gt.get("fn_name") is not None and not isinstance(gt["fn_name"], str):
        return f"code's fn_name must be a string, got {_kind(gt['fn_name'])}"
    for i, test in enumerate(gt["tests"]):
        if not isinstance(test, dict) or not keys <= test.keys():
            return f"code's tests[{i}] needs keys {sorted(keys)}, got {_kind(test)}"
    return None


@functools.cache
def _accepted_params(fn: Callable[..., Any]) -> frozenset[str] | None:
    """Keyword parameters ``fn`` takes after (completion, ground_truth); None if it takes any (**kwargs)."""
    params = list(inspect.signature(fn).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params[2:] if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def check_reward_spec(spec: RewardSpec, where: str = "reward") -> tuple[str, str] | None:
    """``(field, what is wrong)`` for a spec a verifier cannot score, or None."""
    try:
        fn = VERIFIERS.get(spec.verifier)
    except (KeyError, ImportError, ValueError) as exc:
        msg = str(exc)
        return f"{where}.verifier", msg[1:-1] if msg[:1] == msg[-1:] == "'" else msg
    accepted = _accepted_params(fn)
    unknown = sorted(set(spec.params or {}) - accepted) if accepted is not None else []
    if unknown:
        return (
            f"{where}.params",
            f"{spec.verifier} takes no parameter {unknown[0]!r}; it takes {sorted(accepted or ())}",
        )
    check = GROUND_TRUTHS.get(spec.verifier)
    # None: no ground truth given (SFT-only rows, verifiers that need none); scoring such a row errors
    problem = check(spec.ground_truth) if check and spec.ground_truth is not None else None
    if problem:
        return f"{where}.ground_truth", problem
    if spec.verifier == "combined":
        for i, comp in enumerate((spec.params or {}).get("components") or []):
            if not isinstance(comp, dict) or not isinstance(comp.get("verifier"), str):
                return (
                    f"{where}.params.components[{i}]",
                    f"needs {{'verifier': name, 'weight': w}}, got {_kind(comp)}",
                )
            gt = comp.get("ground_truth", spec.ground_truth)
            sub = RewardSpec(comp["verifier"], gt, comp.get("params") or {}, 1.0)
            found = check_reward_spec(sub, f"{where}.params.components[{i}]")
            if found:
                return found
    return None


def _check_sample(sample: Sample) -> tuple[str, str] | None:
    if getattr(sample, "env", None) is not None:  # a multi-turn episode: its environment scores it
        return None
    return check_reward_spec(sample.reward)


register_sample_check("reward", _check_sample)
