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


def sample_categorical(
    probs: torch.Tensor,
    generator: torch.Generator | None = None,
    uniforms: torch.Tensor | None = None,
) -> torch.Tensor:
    """One draw per row from non-negative, not necessarily normalised weights, by inverse CDF:
    the first index whose cumulative weight exceeds u ~ U[0, total). (B, V) -> (B,)

    One uniform a row and a cumulative sum (in float64), several times cheaper than torch.multinomial
    on CPU; a zero-weight token is never drawn. ``uniforms`` (B, 1) float64 in [0, 1) on ``probs``'
    device are the rows' u / total (drawn here from ``generator`` on the CPU when not given).
    """
    assert probs.dim() == 2, probs.shape
    cdf = probs.double().cumsum(-1)  # (B, V)
    if uniforms is None:
        uniforms = torch.rand((probs.size(0), 1), generator=generator, dtype=torch.float64)
    u = uniforms.to(probs.device)  # (B, 1)
    tokens = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)  # (B,)
    return tokens.clamp_max(probs.size(-1) - 1)


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    uniforms: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row. logits: (B, V) -> tokens (B,), logprobs (B,).

    The returned log-probability is that of the token under softmax(logits / temperature), without
    top-k / top-p truncation (what the learner computes). Greedy when temperature == 0 (logprob under T=1).
    ``uniforms`` (B, 1): the rows' draws (see ``sample_categorical``), else drawn from ``generator``.
    """
    logits = logits.float()
    if temperature == 0:
        tokens = logits.argmax(-1)
        return tokens, logits.log_softmax(-1).gather(-1, tokens[:, None]).squeeze(-1)
    scaled = logits / temperature if temperature != 1.0 else logits
    logp = scaled.log_softmax(-1)  # (B, V)
    truncated = (0 < top_k < logits.size(-1)) or top_p < 1.0
    probs = filter_logits(scaled, top_k, top_p).softmax(-1) if truncated else logp.exp()
    tokens = sample_categorical(probs, generator, uniforms)  # (B,)
    return tokens, logp.gather(-1, tokens[:, None]).squeeze(-1)


class RowUniforms:
    """The uniforms of one generation chunk's rows: a (B, 1) float64 column each decode step, from a
    generator of their own on the chunk's device, seeded by one draw from ``generator``.

    Every step draws the values of all B rows, decoded or not, so a row's samples depend only on the
    seed, its row and the step: not on which other rows are still in the decode batch, when finished
    rows are dropped from it, or how many steps run after the last row finished. That is what lets the
    engine check for finished rows only every few steps on a GPU (one host sync per check) with the
    same samples. Drawing on the device also saves a host-to-device copy a step.
    """

    def __init__(self, generator: torch.Generator, rows: int, device: torch.device) -> None:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.rows, self.device = rows, device

    def next(self) -> torch.Tensor:
        """The next step's draws (B, 1), one a row of the chunk."""
        return torch.rand((self.rows, 1), generator=self.generator, dtype=torch.float64, device=self.device)
