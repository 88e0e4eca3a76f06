"""Log-probs and entropies of response tokens, a chunk of positions at a time.

The plain way, ``logprobs_from_logits(logits / T, labels)``, makes (B, R, V) temporaries: the logits
divided by the temperature, their float32 copy, and autograd keeps that float32 copy for the backward
pass. Over a 151,936-id vocabulary that is 4.6 GiB for 32 rows of 255 positions, twice the bf16 logits
themselves. Here the positions are cut into chunks of at most ``chunk_tokens`` (rows x positions), and

    log pi(y) = z_y / T - logsumexp(z / T)                         (float32, a chunk at a time)

is an autograd function that keeps only the logits it was given (which the LM head made anyway) and the
(B, R) logsumexp; its backward recomputes the softmax a chunk at a time. With ``overwrite_logits`` (the
caller reads the logits no more) the backward writes the logits' gradient over the logits themselves, a
chunk at a time, instead of into a second (B, R, V) tensor; see ``_overwritable``. On the CPU chunks
are also capped at ``CPU_CHUNK_VALUES`` (cache-sized), which runs these passes 3-4x faster at 49k-152k ids:

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
# On the CPU a chunk is also capped at this many (position x vocabulary) values, 2 MiB of float32, about
# one core's L2 cache: each chunk's passes (cast, max, exp, sums; the backward's exp and cast) then run
# from the cache instead of memory. Forward + backward over (768, 49,152) logits, one thread: 0.78 s in
# chunks of 1,024 positions, 0.21-0.26 s in chunks of 10-64 (bfloat16 or float32 logits alike).
CPU_CHUNK_VALUES = 2**19
# Autograd nodes that do not keep their output for their own backward (the view nodes pass the question
# on to the tensor they view). Logits made by one of these can take their own gradient once the log-probs'
# backward has read them; an op that keeps its output (tanh, exp, softmax...) is not here.
_VIEWS = {"UnsafeViewBackward0", "ViewBackward0", "ReshapeAliasBackward0", "AsStridedBackward0"}
_OUTPUT_NOT_KEPT = {"MmBackward0", "AddmmBackward0", "BmmBackward0", "AddBackward0", "MulBackward0",
                    "DivBackward0", "CloneBackward0", "ToCopyBackward0", "CatBackward0"}  # fmt: skip


def chunk_positions(chunk_tokens: int, vocab: int, device: torch.device) -> int:
    """Positions a chunk: ``chunk_tokens``, and on the CPU at most ``CPU_CHUNK_VALUES / vocab`` (>= 1)."""
    if device.type != "cpu":
        return chunk_tokens
    return max(1, min(chunk_tokens, CPU_CHUNK_VALUES // vocab))


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class _ChunkedLogprobs(torch.autograd.Function):
    """log softmax(z / T)_y over flat positions: z (N, V) any float dtype, y (N,) -> (N,) float32; and,
    with ``entropy``, the entropy of softmax(z / T) (N,) float32 as a second output without a gradient
    (empty without ``entropy``), from the same chunk and logsumexp as the log-probs."""

    @staticmethod
    def forward(
        ctx, logits: Tensor, labels: Tensor, temperature: float, chunk: int, entropy: bool, overwrite: bool
    ) -> tuple[Tensor, Tensor]:
        N = logits.size(0)
        out = logits.new_empty(N, dtype=torch.float32)
        lse = logits.new_empty(N, dtype=torch.float32)
        ent = logits.new_empty(N if entropy else 0, dtype=torch.float32)
        for sl in _chunks(N, chunk):
            d, e, m = _shifted_exp(_scaled(logits[sl], temperature))  # (n, V), (n, V), (n,)
            sum_e = e.sum(-1)  # (n,)
            log_sum = sum_e.log()  # (n,): logsumexp(z) = m + log_sum
            lse[sl] = m + log_sum
            out[sl] = d.gather(-1, labels[sl, None]).squeeze(-1) - log_sum
            if entropy:
                ent[sl] = _entropy_given_shift(d, e, sum_e, log_sum)
        ctx.save_for_backward(logits, labels, lse)
        ctx.temperature, ctx.chunk, ctx.overwrite = temperature, chunk, overwrite
        ctx.mark_non_differentiable(ent)
        return out, ent

    @staticmethod
    def backward(ctx, grad_out: Tensor, _grad_entropy: Tensor):
        logits, labels, lse = ctx.saved_tensors
        T = ctx.temperature
        grad = logits if ctx.overwrite else torch.empty_like(logits)  # each chunk read before it is written
        for sl in _chunks(logits.size(0), ctx.chunk):
            probs = torch.exp(_scaled(logits[sl], T) - lse[sl, None])  # (n, V)
            g = probs.mul_(-grad_out[sl, None])
            g.scatter_add_(-1, labels[sl, None], grad_out[sl, None].float())
            grad[sl] = (g if T == 1.0 else g.div_(T)).to(grad.dtype)
        return grad, None, None, None, None, None


def _overwritable(logits: Tensor) -> bool:
    """Whether nothing but the log-probs' backward can need ``logits`` (N, V) once it has run: they were
    made by an operator that does not keep its output (through views), so writing their gradient over
    them changes nothing another backward reads. (Were that wrong, autograd's version check would stop
    that backward with an error rather than use the overwritten values.) A leaf is the caller's own."""
    node = logits.grad_fn
    while node is not None and type(node).__name__ in _VIEWS:
        node = node.next_functions[0][0]
    return node is not None and type(node).__name__ in _OUTPUT_NOT_KEPT


def _shifted_exp(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """z (n, V) float32 -> d = z - m (n, V), exp(d) (n, V) and the row maxima m (n,), as
    ``torch.logsumexp`` shifts (a row whose maximum is not finite is shifted by 0)."""
    m = z.amax(-1)  # (n,)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    d = z - m[:, None]
    return d, d.exp(), m


def _entropy_given_shift(d: Tensor, e: Tensor, sum_e: Tensor, log_sum: Tensor) -> Tensor:
    """H = -sum_v p_v log p_v from the log-probs' own pass: d = z - m (n, V), e = exp(d) (n, V), their
    row sums sum_e (n,) and log_sum = log(sum_e) (n,) -> (n,). With p = e / sum_e and log p = d - log_sum,

        H = log_sum - sum_v e_v d_v / sum_e

    (both terms >= 0: no cancellation). One (n, V) pass after the log-probs' own; ``e`` is overwritten.
    A -inf logit has e = 0 and e d = 0 * -inf = NaN, which ``nansum`` drops: the same 0 that the plain
    computation's clamp gives."""
    return log_sum - e.mul_(d).nansum(-1) / sum_e


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
    overwrite_logits: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Log-probs of ``labels`` under softmax(logits / T), and entropies, chunked over positions.

    logits (B, k, V), labels (B, k) -> log-probs (B, k) float32, entropies (B, k) float32 or None.
    The entropy carries a gradient only with ``entropy_grad`` (and grad mode on). ``overwrite_logits``:
    the caller will not read ``logits`` after the backward pass, which may then write their gradient over
    them (when ``_overwritable`` and no entropy gradient needs them too): the same gradient, one (B, k, V)
    tensor fewer at the step's peak.
    """
    assert logits.dim() == 3 and labels.shape == logits.shape[:2], (tuple(logits.shape), tuple(labels.shape))
    assert chunk_tokens >= 1, chunk_tokens
    B, k, V = logits.shape
    chunk_tokens = chunk_positions(chunk_tokens, V, logits.device)
    flat = logits.reshape(B * k, V)
    flat_labels = labels.reshape(B * k).long()
    grad = entropy_grad and torch.is_grad_enabled()
    fused = with_entropy and not grad  # a metric: from the log-probs' own pass over each chunk
    overwrite = overwrite_logits and not grad and _overwritable(flat)  # a loss entropy re-reads them
    logprobs, entropy = _ChunkedLogprobs.apply(
        flat, flat_labels, float(temperature), chunk_tokens, fused, overwrite
    )
    logprobs = logprobs.view(B, k)
    if not with_entropy:
        return logprobs, None
    if grad:  # a loss term: its own pass, recomputed in the backward (checkpointed)
        entropy = chunked_entropy(flat, float(temperature), chunk_tokens, grad=True)
    return logprobs, entropy.view(B, k)
