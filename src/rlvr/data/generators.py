"""Synthetic task generators: named functions ``(size, seed, **kwargs) -> list[Sample]``.

Register one with ``@GENERATORS.register("name")``; a ``synthetic`` dataset spec then names it (or a
``module:attr`` path). A generator must be deterministic in ``seed`` and return exactly ``size`` samples.
"""

from __future__ import annotations

from typing import Any, Protocol

from rlvr.data.sample import Sample
from rlvr.registry import Registry


class Generator(Protocol):
    """``fn(size, seed, **kwargs) -> list[Sample]``: called with ``size`` and ``seed`` by keyword; the
    other parameters are the dataset spec's generator keywords (each generator names its own)."""

    def __call__(self, size: int, seed: int, *args: Any, **kwargs: Any) -> list[Sample]: ...


GENERATORS: Registry[Generator] = Registry("data generator")


def generate(name: str, size: int, seed: int, **kwargs: Any) -> list[Sample]:
    """Run generator ``name`` and check that it returned ``size`` Samples."""
    generator = GENERATORS.get(name)
    samples = generator(size=size, seed=seed, **kwargs)
    if not isinstance(samples, list) or not all(isinstance(s, Sample) for s in samples):
        raise TypeError(f"data generator {name!r} must return a list of Sample, got {type(samples).__name__}")
    if len(samples) != size:
        raise ValueError(f"data generator {name!r} returned {len(samples)} samples; size={size} was asked")
    return samples
