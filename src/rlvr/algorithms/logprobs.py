"""Log-probs and entropies of response tokens, a chunk of positions at a time.

The plain way, ``logprobs_from_logits(logits / T, labels)``, makes (B, R, V) temporaries: the logits
divided by the temperature, their float32 copy, and autograd keeps that float32 copy for the backward
pass. Over a 151,936-id vocabulary that is 4.6 GiB for 32 rows of 255 positions, twice the bf16 logits
themselves. Here the positions are cut into chunks of at most ``chunk_tokens`` (rows x positions), and

    log pi(y) = z_y / T - logsumexp(z / T)                         (float32, a chunk at a time)

is an autograd function that keeps only the logits it was given (which the LM head made anyway) and the
(B, R) logsumexp; its backward recomputes the softmax a chunk at a time:

    d log pi(y) / d z_v = (1[v = y] - softmax(z / T)_v) / T

The entropy H = logsumexp(z / T) - sum_v softmax(z / T)_v z_v / T is a metric unless
``algorithm.entropy_coef > 0``: without a gradient it is computed a chunk at a time and nothing is kept;
with one, each chunk runs under activation checkpointing (recomputed in the backward pass). Both are
the same numbers as the plain computation to float rounding (tests/models/test_logprobs.py).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .entropy import entropy_from_logits

# (rows x positions) a chunk: 4096 x 151,936 float32 values are 2.3 GiB; 1024 keeps a chunk at 0.6 GiB
DEFAULT_CHUNK_TOKENS = 1024


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class _ChunkedLogprobs(torch.autograd.Function):
    """log softmax(z / T)_y over flat positions: z (N, V) any float dtype, y (N,) -> (N,) float32; and,
    with ``entropy``, the entropy of softmax(z / T) (N,) float32 as a second output without a gradient
    (empty without ``entropy``), from the same chunk and logsumexp as the log-probs."""

    @staticmethod
    def forward(
        ctx, logits: Tensor, labels: Tensor, temperature: float, chunk: int, entropy: bool
    ) -> tuple[Tensor, Tensor]:
        N = logits.size(0)
        out = logits.new_empty(N, dtype=torch.float32)
        lse = logits.new_empty(N, dtype=torch.float32)
        ent = logits.new_empty(N if entropy else 0, dtype=torch.float32)
        for sl in _chunks(N, chunk):
            z = _scaled(logits[sl], temperature)  # (n, V)
            lse[sl] = torch.logsumexp(z, dim=-1)
            out[sl] = z.gather(-1, labels[sl, None]).squeeze(-1) - lse[sl]
            if entropy:
                ent[sl] = _entropy_given_lse(z, lse[sl])
        ctx.save_for_backward(logits, labels, lse)
        ctx.temperature, ctx.chunk = temperature, chunk
        ctx.mark_non_differentiable(ent)
        return out, ent

    @staticmethod
    def backward(ctx, grad_out: Tensor, _grad_entropy: Tensor):
        logits, labels, lse = ctx.saved_tensors
        T = ctx.temperature
        grad = torch.empty_like(logits)
        for sl in _chunks(logits.size(0), ctx.chunk):
            probs = torch.exp(_scaled(logits[sl], T) - lse[sl, None])  # (n, V)
            g = probs.mul_(-grad_out[sl, None])
            g.scatter_add_(-1, labels[sl, None], grad_out[sl, None].float())
            grad[sl] = (g if T == 1.0 else g.div_(T)).to(grad.dtype)
        return grad, None, None, None, None


def _entropy_given_lse(z: Tensor, lse: Tensor) -> Tensor:
    """H = -sum_v p_v log p_v with log p = z - logsumexp(z) given: z (n, V) float32, lse (n,) -> (n,).

    Two (n, V) passes after the log-probs' own (the plain ``entropy_from_logits`` makes five: shift,
    clamp, softmax, logsumexp, product). A -inf logit has p = 0 and p log p = 0 * -inf = NaN, which
    ``nansum`` drops: the same 0 that the plain computation's clamp gives."""
    logp = z - lse[:, None]  # (n, V)
    return -(logp.exp().mul_(logp)).nansum(-1)


def _scaled(z: Tensor, temperature: float) -> Tensor:
    """z / T in float32 (no division at T = 1)."""
    z = z.float()
    return z if temperature == 1.0 else z / temperature


def _entropy_chunk(z: Tensor, temperature: float) -> Tensor:
    return entropy_from_logits(_scaled(z, temperature)[None])[0]


def chunked_entropy(logits: Tensor, temperature: float, chunk: int, grad: bool) -> Tensor:
    """Entropy of softmax(z / T) at each position: logits (N, V) -> (N,) float32, a chunk at a time."""
    parts = []
    for sl in _chunks(logits.size(0), chunk):
        if grad:
            parts.append(checkpoint(_entropy_chunk, logits[sl], temperature, use_reentrant=False))
        else:
            with torch.no_grad():
                parts.append(_entropy_chunk(logits[sl], temperature))
    return torch.cat(parts) if parts else logits.new_zeros(0, dtype=torch.float32)


def token_logprobs(
    logits: Tensor,
    labels: Tensor,
    temperature: float = 1.0,
    with_entropy: bool = False,
    entropy_grad: bool = False,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> tuple[Tensor, Tensor | None]:
    """Log-probs of ``labels`` under softmax(logits / T), and entropies, chunked over positions.

    logits (B, k, V), labels (B, k) -> log-probs (B, k) float32, entropies (B, k) float32 or None.
    The entropy carries a gradient only with ``entropy_grad`` (and grad mode on).
    """
    assert logits.dim() == 3 and labels.shape == logits.shape[:2], (tuple(logits.shape), tuple(labels.shape))
    assert chunk_tokens >= 1, chunk_tokens
    B, k, V = logits.shape
    flat = logits.reshape(B * k, V)
    flat_labels = labels.reshape(B * k).long()
    grad = entropy_grad and torch.is_grad_enabled()
    fused = with_entropy and not grad  # a metric: from the log-probs' own pass over each chunk
    logprobs, entropy = _ChunkedLogprobs.apply(flat, flat_labels, float(temperature), chunk_tokens, fused)
    logprobs = logprobs.view(B, k)
    if not with_entropy:
        return logprobs, None
    if grad:  # a loss term: its own pass, recomputed in the backward (checkpointed)
        entropy = chunked_entropy(flat, float(temperature), chunk_tokens, grad=True)
    return logprobs, entropy.view(B, k)
