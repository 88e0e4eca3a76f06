"""Loss aggregations: a per-token loss matrix (B, T) and its mask -> a scalar, registered by name.

Every aggregation has the signature

    fn(loss_mat (B, T), mask (B, T), *, num_tokens=None, num_seqs=None, norm_len=None) -> scalar

``num_tokens`` and ``num_seqs`` are GLOBAL counts over the whole mini-batch. When a mini-batch is split
into micro-batches and each is aggregated with the mini-batch's counts, the sum of the micro-batch losses
equals the loss of the whole mini-batch, so gradient accumulation is exact. Left as None they default
to the counts of the tensors given. A zero denominator gives a zero loss that keeps the graph.
"""

import torch
from torch import Tensor

from .registries import LOSS_AGGREGATIONS


def _masked(loss_mat: Tensor, mask: Tensor) -> Tensor:
    """loss_mat with masked-out entries set to 0 (by selection, so a NaN there cannot leak). (B, T)"""
    assert loss_mat.dim() == 2, f"loss_mat must be (B, T), got {tuple(loss_mat.shape)}"
    assert mask.shape == loss_mat.shape, f"mask {tuple(mask.shape)} != loss_mat {tuple(loss_mat.shape)}"
    return torch.where(mask > 0, loss_mat, torch.zeros_like(loss_mat))


def _safe_div(num: Tensor, denom: Tensor | float) -> Tensor:
    """num / denom elementwise, 0 (attached to num's graph) where denom <= 0; no host sync."""
    denom = torch.as_tensor(denom, dtype=num.dtype, device=num.device)
    ok = denom > 0
    return torch.where(ok, num / torch.where(ok, denom, torch.ones_like(denom)), num * 0.0)


@LOSS_AGGREGATIONS.register("token_mean")
def token_mean(
    loss_mat: Tensor,
    mask: Tensor,
    *,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
    norm_len: int | None = None,
) -> Tensor:
    """Token-level mean (DAPO, Yu et al. 2025): sum_it l_it m_it / (num_tokens or sum_it m_it)."""
    masked = _masked(loss_mat, mask)  # (B, T)
    denom = mask.to(loss_mat.dtype).sum() if num_tokens is None else num_tokens
    return _safe_div(masked.sum(), denom)


@LOSS_AGGREGATIONS.register("seq_mean_token_mean")
def seq_mean_token_mean(
    loss_mat: Tensor,
    mask: Tensor,
    *,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
    norm_len: int | None = None,
) -> Tensor:
    """Sequence mean of token means (original GRPO, Shao et al. 2024):
    sum_i [sum_t l_it m_it / sum_t m_it] / (num_seqs or B). A sequence with no valid token adds 0."""
    masked = _masked(loss_mat, mask)  # (B, T)
    per_seq = _safe_div(masked.sum(-1), mask.to(loss_mat.dtype).sum(-1))  # (B,)
    return _safe_div(per_seq.sum(), loss_mat.shape[0] if num_seqs is None else num_seqs)


@LOSS_AGGREGATIONS.register("seq_mean_token_sum")
def seq_mean_token_sum(
    loss_mat: Tensor,
    mask: Tensor,
    *,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
    norm_len: int | None = None,
) -> Tensor:
    """Sequence mean of token sums: sum_i [sum_t l_it m_it] / (num_seqs or B)."""
    masked = _masked(loss_mat, mask)  # (B, T)
    return _safe_div(masked.sum(), loss_mat.shape[0] if num_seqs is None else num_seqs)


@LOSS_AGGREGATIONS.register("seq_mean_token_sum_norm")
def seq_mean_token_sum_norm(
    loss_mat: Tensor,
    mask: Tensor,
    *,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
    norm_len: int | None = None,
) -> Tensor:
    """Dr. GRPO (Liu et al. 2025): sum_it l_it m_it / ((num_seqs or B) * norm_len), a constant length
    (e.g. max_new_tokens) instead of each response's length, which removes GRPO's length bias."""
    if norm_len is None:
        raise ValueError(
            "loss aggregation 'seq_mean_token_sum_norm' needs norm_len (set loss_agg_norm_len, "
            "or the rollout's max_new_tokens); got None"
        )
    masked = _masked(loss_mat, mask)  # (B, T)
    seqs = loss_mat.shape[0] if num_seqs is None else num_seqs
    return _safe_div(masked.sum(), seqs * norm_len)
