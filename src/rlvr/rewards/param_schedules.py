"""Verifier parameters that follow training progress (V-Triune's dynamic IoU threshold), applied to
score requests just before they are scored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rlvr.data.sample import RewardSpec
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.schedules import ThresholdSchedule


class ParamSchedule:
    """Sets ``param`` = schedule(progress) on every request whose verifier is in ``verifiers``."""

    def __init__(self, param: str, verifiers: Sequence[str], schedule: ThresholdSchedule) -> None:
        self.param, self.verifiers, self.schedule = param, set(verifiers), schedule

    def _spec(self, spec: RewardSpec, value: float) -> RewardSpec:
        if spec.verifier == "combined":
            components = [self._component(c, value) for c in spec.params.get("components", [])]
            return replace(spec, params={**spec.params, "components": components})
        if spec.verifier in self.verifiers:
            return replace(spec, params={**spec.params, self.param: value})
        return spec

    def _component(self, comp: dict[str, Any], value: float) -> dict[str, Any]:
        if comp.get("verifier") not in self.verifiers:
            return comp
        return {**comp, "params": {**comp.get("params", {}), self.param: value}}

    def apply(self, requests: list[ScoreRequest], progress: float) -> list[ScoreRequest]:
        value = self.schedule.value(progress)
        return [replace(r, spec=self._spec(r.spec, value)) for r in requests]
