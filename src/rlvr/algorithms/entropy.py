"""Token log-probabilities and entropies from logits, computed in float32 without a (B, T, V) log_softmax.

Both use log p_v = z_v - logsumexp(z), so the only (B, T, V) temporaries are the float32 logits (a copy
only when the input is in lower precision) and, for the entropy, the softmax.
"""

import torch
from torch import Tensor


def logprobs_from_logits(logits: Tensor, labels: Tensor) -> Tensor:
    """log pi(y_t) = z_{t, y_t} - logsumexp_v z_{t, v}, in float32. (B, T, V), (B, T) long -> (B, T)"""
    assert logits.dim() == 3, f"logits must be (B, T, V), got {tuple(logits.shape)}"
    assert labels.shape == logits.shape[:2], (
        f"labels {tuple(labels.shape)} must match logits' (B, T) = {tuple(logits.shape[:2])}"
    )
    logits = logits.float()
    chosen = logits.gather(-1, labels.long().unsqueeze(-1)).squeeze(-1)  # (B, T)
    return chosen - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """H_t = -sum_v p_v log p_v = logsumexp(z) - sum_v softmax(z)_v z_v, in float32. (B, T, V) -> (B, T)"""
    assert logits.dim() == 3, f"logits must be (B, T, V), got {tuple(logits.shape)}"
    # Shift by the max for precision (H is shift-invariant); -inf logits (masked vocabulary) become the
    # most negative float, so p = 0 there and 0 * z stays 0 instead of NaN.
    logits = logits.float()
    logits = (logits - logits.amax(-1, keepdim=True).detach()).clamp_min(torch.finfo(torch.float32).min)
    probs = torch.softmax(logits, dim=-1)  # (B, T, V)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)
