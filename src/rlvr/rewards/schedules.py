"""Schedules for reward parameters that change over training, e.g. V-Triune's dynamic IoU threshold."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any


class ThresholdSchedule:
    """Piecewise-constant value over training progress in [0, 1].

    ``value(p) = values[k]`` where ``k`` is the number of ``boundaries`` strictly below ``p``: a boundary
    belongs to the segment before it. The default is V-Triune's dynamic IoU threshold (arXiv 2505.18129,
    official code): 0.85 while progress <= 0.10, 0.95 while <= 0.25, 0.99 after.
    """

    def __init__(
        self, boundaries: Sequence[float] = (0.1, 0.25), values: Sequence[float] = (0.85, 0.95, 0.99)
    ) -> None:
        self._set(boundaries, values)

    def _set(self, boundaries: Sequence[float], values: Sequence[float]) -> None:
        boundaries, values = [float(b) for b in boundaries], [float(v) for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"need len(values) == len(boundaries) + 1, got {len(values)} and {len(boundaries)}"
            )
        if any(b >= c for b, c in zip(boundaries, boundaries[1:], strict=False)):
            raise ValueError(f"boundaries must be strictly increasing, got {boundaries}")
        self.boundaries, self.values = boundaries, values

    def value(self, progress: float) -> float:
        """The value at ``progress`` (fraction of training done; clamped to [0, 1])."""
        progress = min(max(float(progress), 0.0), 1.0)
        return self.values[bisect.bisect_left(self.boundaries, progress)]

    def value_at_step(self, step: int, total_steps: int) -> float:
        """The value at ``step`` of ``total_steps`` (progress = step / total_steps)."""
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        return self.value(step / total_steps)

    def state_dict(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._set(state["boundaries"], state["values"])

    def __repr__(self) -> str:
        return f"ThresholdSchedule(boundaries={self.boundaries}, values={self.values})"
