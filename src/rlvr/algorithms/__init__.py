"""The pure tensor math of RL post-training: advantages, policy losses, KL estimators, aggregations, filters.

Importing this package registers every built-in piece in its registry; a trainer looks pieces up by the
names in :class:`AlgorithmConfig` (``ADVANTAGES.get(cfg.advantage)``) and never branches on them.
"""

from . import advantages, aggregation, entropy, filters, kl, losses
from .advantages import discounted_returns, group_index_from_ids, group_stats, masked_whiten, outcome_scores
from .config import AlgorithmConfig
from .entropy import entropy_from_logits, logprobs_from_logits
from .filters import FILTERS
from .kl import kl_penalty
from .registries import ADVANTAGES, KL_ESTIMATORS, LOSS_AGGREGATIONS, POLICY_LOSSES

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
