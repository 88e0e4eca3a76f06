"""The s3 training-data filter: drop questions that naive RAG already answers (GBR cannot be positive)."""

from __future__ import annotations

import logging
from typing import Any

from rlvr.data import generate
from rlvr.data.sample import Sample
from rlvr.envs.registry import build_env
from rlvr.envs.s3.env import S3Env

log = logging.getLogger(__name__)


def drop_rag_answered(samples: list[Sample]) -> tuple[list[Sample], int]:
    """The samples whose naive-RAG accuracy is 0, and how many were dropped (logged)."""
    kept = []
    for sample in samples:
        if sample.env is None:
            raise ValueError(f"sample {sample.id!r}: the s3 filter needs an s3 env sample")
        env = build_env(sample.env)
        if not isinstance(env, S3Env):
            raise TypeError(f"sample {sample.id!r}: env {sample.env.name!r} is not s3")
        env.reset(sample)
        if env.rag_accuracy() == 0.0:
            kept.append(sample)
    dropped = len(samples) - len(kept)
    log.info("s3 filter: dropped %d of %d questions that naive RAG already answers", dropped, len(samples))
    return kept, dropped


def rag_filtered(
    size: int, seed: int, generator: str = "multihop_world", pool: int | None = None, **kwargs: Any
) -> list[Sample]:
    """A data generator (``rlvr.envs.s3:rag_filtered``): ``pool`` samples of ``generator``, filtered by
    :func:`drop_rag_answered`, the first ``size`` kept (an error if fewer remain)."""
    samples = generate(generator, size=pool or 4 * size, seed=seed, **kwargs)
    kept, dropped = drop_rag_answered(samples)
    if len(kept) < size:
        raise ValueError(
            f"s3 filter: {len(kept)} of {len(samples)} questions left (dropped {dropped}); size={size}"
        )
    return kept[:size]
