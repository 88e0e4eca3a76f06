"""Importing this module registers every built-in piece of :mod:`rlvr.algorithms` (it imports torch).

The registries import it on first use (``Registry.get``), and ``rlvr.algorithms`` on first access to
anything but :class:`AlgorithmConfig` and the registries, so reading a config never imports torch.
"""

from . import advantages, aggregation, entropy, filters, kl, losses
from .advantages import discounted_returns, group_index_from_ids, group_stats, masked_whiten, outcome_scores
from .entropy import entropy_from_logits, logprobs_from_logits
from .kl import kl_penalty

__all__ = [
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
