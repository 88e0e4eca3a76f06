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


CDF_BLOCK = 1024
"""Tokens a block in ``sample_categorical``'s two-level search."""
ONE_LEVEL_MAX_VOCAB = 8 * CDF_BLOCK
"""Up to this many ids one cumulative sum over the row is cheaper than the two levels' extra operators."""


def one_level(x: torch.Tensor) -> bool:
    """Whether the sampler takes the one-level search for rows ``x`` (B, V): few ids, or an accelerator,
    where a (B, V) cumulative sum is cheap and each extra operator is one more kernel launch in a decode
    loop that is bound by launches (``docs/performance.md``)."""
    return x.size(-1) <= ONE_LEVEL_MAX_VOCAB or x.device.type != "cpu"


def sample_categorical(
    probs: torch.Tensor,
    generator: torch.Generator | None = None,
    uniforms: torch.Tensor | None = None,
) -> torch.Tensor:
    """One draw per row from non-negative, not necessarily normalised weights, by inverse CDF:
    the first index whose cumulative weight exceeds u ~ U[0, total). (B, V) -> (B,)

    One uniform a row, several times cheaper than torch.multinomial on CPU; a zero-weight token is never
    drawn. On the CPU past ``ONE_LEVEL_MAX_VOCAB`` ids the search has two levels, so that no (B, V)
    cumulative sum is built: the weights' sums over blocks of ``CDF_BLOCK`` ids (in float64) find the
    block, then a cumulative sum within that block alone finds the token; the draw is the one-level
    search's up to float64 rounding. ``uniforms`` (B, 1) float64 in [0, 1) on ``probs``' device are the
    rows' u / total (drawn here from ``generator`` on the CPU when not given).
    """
    assert probs.dim() == 2, probs.shape
    return _inverse_cdf(probs, _draws(probs, generator, uniforms))[0]


def _draws(
    probs: torch.Tensor, generator: torch.Generator | None, uniforms: torch.Tensor | None
) -> torch.Tensor:
    """The rows' uniforms (B, 1) float64 on ``probs``' device: ``uniforms``, else drawn from ``generator``."""
    if uniforms is None:
        uniforms = torch.rand((probs.size(0), 1), generator=generator, dtype=torch.float64)
    return uniforms.to(probs.device)


def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sample_categorical``'s draws (B,) for uniforms ``u`` (B, 1), and the rows' totals (B, 1) float64."""
    B, V = probs.shape
    if one_level(probs):
        cdf = probs.double().cumsum(-1)  # (B, V)
        tokens = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)
        return tokens.clamp_max(V - 1), cdf[:, -1:]
    block_cdf = _block_sums(probs).cumsum(-1)  # (B, nb) float64
    target = u * block_cdf[:, -1:]
    block = torch.searchsorted(block_cdf, target, right=True).clamp_max(block_cdf.size(1) - 1)  # (B, 1)
    before = torch.where(block > 0, block_cdf.gather(-1, (block - 1).clamp_min(0)), 0.0)
    index = block * CDF_BLOCK + torch.arange(CDF_BLOCK, device=probs.device)  # (B, C)
    inside = torch.where(index < V, probs.gather(-1, index.clamp_max(V - 1)), 0).double().cumsum(-1)
    # the first token whose cumulative weight in the block exceeds the rest of the target; rounding can
    # leave that rest at or above the block's own total, and then the block's last positive weight is it
    last = torch.searchsorted(inside, inside[:, -1:].contiguous(), right=False)
    within = torch.minimum(torch.searchsorted(inside, target - before, right=True), last)
    return (block * CDF_BLOCK + within).squeeze(-1).clamp_max(V - 1), block_cdf[:, -1:]


def _block_sums(probs: torch.Tensor) -> torch.Tensor:
    """Sums (B, ceil(V / CDF_BLOCK)) in float64 of each row's consecutive blocks of ``CDF_BLOCK``."""
    B, V = probs.shape
    full = V // CDF_BLOCK * CDF_BLOCK
    sums = probs[:, :full].reshape(B, -1, CDF_BLOCK).sum(-1, dtype=torch.float64)
    if full == V:
        return sums
    return torch.cat((sums, probs[:, full:].sum(-1, keepdim=True, dtype=torch.float64)), dim=-1)


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
    Without truncation, on the CPU past ``ONE_LEVEL_MAX_VOCAB`` ids, no (B, V) log-softmax is built: the
    draw is from exp(x - max x), and the token's log-probability is x - max x - log sum exp(x - max x),
    the sum in float64 (the two-level search's block sums).
    """
    logits = logits.float()
    if temperature == 0:
        tokens = logits.argmax(-1)
        return tokens, logits.log_softmax(-1).gather(-1, tokens[:, None]).squeeze(-1)
    scaled = logits / temperature if temperature != 1.0 else logits
    if (0 < top_k < logits.size(-1)) or top_p < 1.0:
        tokens = sample_categorical(filter_logits(scaled, top_k, top_p).softmax(-1), generator, uniforms)
        return tokens, scaled.log_softmax(-1).gather(-1, tokens[:, None]).squeeze(-1)
    if one_level(logits):  # few ids or an accelerator: fewer operators matter more than fewer passes
        logp = scaled.log_softmax(-1)  # (B, V)
        tokens = sample_categorical(logp.exp(), generator, uniforms)
        return tokens, logp.gather(-1, tokens[:, None]).squeeze(-1)
    shift = scaled.amax(-1, keepdim=True)  # (B, 1)
    weights = (scaled - shift).exp_()  # (B, V), the largest 1
    tokens, total = _inverse_cdf(weights, _draws(weights, generator, uniforms))  # (B,), (B, 1)
    return tokens, (scaled.gather(-1, tokens[:, None]) - shift - total.log().float()).squeeze(-1)


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
