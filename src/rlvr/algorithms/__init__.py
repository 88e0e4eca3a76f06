"""The pure tensor math of RL post-training: advantages, policy losses, KL estimators, aggregations.

A trainer looks pieces up by the names in :class:`AlgorithmConfig` (``ADVANTAGES.get(cfg.advantage)``)
and never branches on them. The config and the registries import no torch; the math (and the
registration of every built-in piece) is imported on first access to it, from :mod:`.builtin_pieces`.
"""

import importlib
from typing import Any

from .config import AlgorithmConfig
from .registries import ADVANTAGES, FILTERS, KL_ESTIMATORS, LOSS_AGGREGATIONS, POLICY_LOSSES

__all__ = [
    "ADVANTAGES",
    "FILTERS",
    "KL_ESTIMATORS",
    "LOSS_AGGREGATIONS",
    "POLICY_LOSSES",
    "AlgorithmConfig",
    "advantages",
    "aggregation",
    "discounted_returns",
    "entropy",
    "entropy_from_logits",
    "filters",
    "group_index_from_ids",
    "group_stats",
    "kl",
    "kl_penalty",
    "logprobs_from_logits",
    "losses",
    "masked_whiten",
    "outcome_scores",
]


def __getattr__(name: str) -> Any:
    """The torch-side names (``kl_penalty``, ``losses``, ...), imported on first access."""
    pieces = importlib.import_module("rlvr.algorithms.builtin_pieces")
    if name in pieces.__all__:
        return getattr(pieces, name)
    raise AttributeError(f"module 'rlvr.algorithms' has no attribute {name!r}")
