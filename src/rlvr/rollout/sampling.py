"""Pure sampling functions over next-token logits."""

from __future__ import annotations

import torch


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Mask (to -inf) all but the top-k tokens and the top-p nucleus. logits: (B, V)."""
    assert logits.dim() == 2, logits.shape
    if top_k > 0 and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a token when the mass strictly before it already reaches top_p (keeps at least one).
        drop_sorted = probs.cumsum(-1) - probs >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_categorical(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per row from non-negative, not necessarily normalised weights, by inverse CDF:
    the first index whose cumulative weight exceeds u ~ U[0, total). (B, V) -> (B,)

    One uniform a row and a cumulative sum (in float64), several times cheaper than torch.multinomial
    on CPU; a zero-weight token is never drawn.
    """
    assert probs.dim() == 2, probs.shape
    cdf = probs.double().cumsum(-1)  # (B, V)
    u = torch.rand((probs.size(0), 1), generator=generator, dtype=torch.float64).to(probs.device)
    tokens = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)  # (B,)
    return tokens.clamp_max(probs.size(-1) - 1)


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row. logits: (B, V) -> tokens (B,), logprobs (B,).

    The returned log-probability is that of the token under softmax(logits / temperature), without
    top-k / top-p truncation (what the learner computes). Greedy when temperature == 0 (logprob under T=1).
    """
    logits = logits.float()
    if temperature == 0:
        tokens = logits.argmax(-1)
        return tokens, logits.log_softmax(-1).gather(-1, tokens[:, None]).squeeze(-1)
    scaled = logits / temperature if temperature != 1.0 else logits
    logp = scaled.log_softmax(-1)  # (B, V)
    truncated = (0 < top_k < logits.size(-1)) or top_p < 1.0
    probs = filter_logits(scaled, top_k, top_p).softmax(-1) if truncated else logp.exp()
    tokens = sample_categorical(probs, generator)  # (B,)
    return tokens, logp.gather(-1, tokens[:, None]).squeeze(-1)
