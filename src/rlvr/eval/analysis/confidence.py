"""RaML's confidence probe: how sure the model is of the gold answer after each prefix of its trace.

RaML (arXiv 2505.19815) reads a reasoning trace as pseudo-gradient descent on the answer. For a
prefix ``x_{<=p}`` of the context (prompt + the first j trace tokens) it appends the answer prompt
(``"\\n\\n**Final Answer**\\n\\boxed{"`` in the official notebook, no ``</think>``) and the gold answer
``y``, and scores

    L(p) = -1/|y| * sum_i log pi(y_i | x_{<=p}, answer prompt, y_{<i})

over the gold tokens only. The notebook runs one forward per prefix. Here all prefixes of a trace go
through the model together: the context once, followed by one appended block (answer prompt + gold)
per prefix point, with a 4-D additive attention mask so that block k sees the context up to its
prefix length p_k and itself causally, and positions that continue from p_k:

    tokens     ctx_0 .. ctx_{L-1} | block_1 (A tokens) | block_2 | ... | block_K
    positions  0 .. L-1           | p_1 .. p_1+A-1     | p_2 ..  | ... | p_K ..
    block k attends to            ctx_{<p_k} and block k's own earlier tokens

Every block's logits then equal those of the forward over ``ctx[:p_k] + block`` (up to float rounding),
while the context's keys and values are computed once (:func:`answer_nll_shared`). When the blocks
pass ``max_block_tokens`` they go in chunks on top of the context's KV cache, so memory stays bounded.
:func:`answer_nll_per_prefix` is the notebook's loop, kept as the reference the tests compare against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rlvr.models.prefix import cache_kwarg

DEFAULT_ANSWER_PROMPT = "\n\n**Final Answer**\n\\boxed{"
"""The official notebook's answer prompt, appended mid-thought with no ``</think>``."""


@dataclass(frozen=True)
class Blocks:
    """The appended answer blocks of one forward: inputs, positions, mask and where the gold is read."""

    input_ids: Tensor  # (Q,) the query tokens of this forward
    position_ids: Tensor  # (Q,)
    mask: Tensor  # (Q, S) additive: 0 where a query may attend, dtype-min elsewhere; S = L + K*A
    logit_index: Tensor  # (K, G) query index whose logits predict each gold token
    gold_ids: Tensor  # (K, G)


def block_layout(
    ctx_len: int, block_ids: Tensor, n_gold: int, prefix_lens: Tensor, with_ctx: bool, ctx_ids: Tensor | None
) -> Blocks:
    """The layout of K answer blocks over a context of ``ctx_len`` tokens.

    block_ids: (A,) answer prompt then gold (the last ``n_gold`` tokens); prefix_lens: (K,) each in
    [1, ctx_len]. With ``with_ctx`` the queries are the context (causal) followed by the blocks (one
    forward does everything; ``ctx_ids`` (L,) needed); otherwise the queries are the blocks alone and
    the context is in the KV cache.
    """
    A, K, L = block_ids.numel(), prefix_lens.numel(), ctx_len
    if not 1 <= n_gold < A:
        raise ValueError(f"the answer block needs a non-empty answer prompt before the gold: {n_gold} of {A}")
    if K and (int(prefix_lens.min()) < 1 or int(prefix_lens.max()) > L):
        raise ValueError(f"prefix lengths must lie in [1, {L}], got {prefix_lens.tolist()}")
    device = block_ids.device
    offs = torch.arange(A, device=device)
    blk_pos = (prefix_lens[:, None] + offs[None, :]).reshape(-1)  # (K*A,)
    blk_owner = torch.arange(K, device=device).repeat_interleave(A)  # (K*A,)
    blk_limit = prefix_lens.repeat_interleave(A)  # (K*A,) context keys a block token may see
    n_ctx_q = L if with_ctx else 0
    S = L + K * A
    # Per query: its block (-1 for context), how many context keys it sees, its own key index.
    owner = torch.cat([torch.full((n_ctx_q,), -1, device=device), blk_owner])  # (Q,)
    limit = torch.cat([torch.arange(1, n_ctx_q + 1, device=device), blk_limit])  # (Q,)
    q_key = torch.cat([torch.arange(n_ctx_q, device=device), L + torch.arange(K * A, device=device)])  # (Q,)
    keys = torch.arange(S, device=device)  # (S,)
    key_owner = torch.cat([torch.full((L,), -1, device=device), blk_owner])  # (S,)
    sees_ctx = (keys[None, :] < L) & (keys[None, :] < limit[:, None])  # (Q, S)
    sees_own = (
        (owner[:, None] >= 0) & (key_owner[None, :] == owner[:, None]) & (keys[None, :] <= q_key[:, None])
    )
    allowed = sees_ctx | sees_own
    mask = torch.zeros(allowed.shape, dtype=torch.float32, device=device)
    mask.masked_fill_(~allowed, torch.finfo(torch.float32).min)
    blk_ids = block_ids.repeat(K)  # (K*A,)
    if with_ctx:
        assert ctx_ids is not None and ctx_ids.numel() == L
        input_ids = torch.cat([ctx_ids, blk_ids])
        position_ids = torch.cat([torch.arange(L, device=device), blk_pos])
    else:
        input_ids, position_ids = blk_ids, blk_pos
    gold_cols = torch.arange(A - n_gold, A, device=device)  # (G,) within a block
    logit_index = n_ctx_q + torch.arange(K, device=device)[:, None] * A + gold_cols[None, :] - 1  # (K, G)
    gold_ids = block_ids[gold_cols].expand(K, n_gold)
    return Blocks(input_ids, position_ids, mask, logit_index, gold_ids)


def _gold_nll(logits: Tensor, gold_ids: Tensor) -> Tensor:
    """logits: (K*G, V) rows in (K, G) order; gold_ids: (K, G) -> mean NLL per block (K,)."""
    K, G = gold_ids.shape
    logp = torch.log_softmax(logits.float(), dim=-1).view(K, G, -1)
    return -logp.gather(-1, gold_ids[..., None]).squeeze(-1).mean(-1)


def _run_blocks(model: torch.nn.Module, blocks: Blocks, dtype: torch.dtype, **kw) -> Tensor:
    """L of each block of one forward (K,); ``kw`` passes a KV cache holding the context."""
    out = model(
        input_ids=blocks.input_ids[None],
        position_ids=blocks.position_ids[None],
        attention_mask=blocks.mask.to(dtype)[None, None],  # (1, 1, Q, S)
        logits_to_keep=blocks.logit_index.reshape(-1),
        **kw,
    )
    return _gold_nll(out.logits[0], blocks.gold_ids)


@torch.no_grad()
def answer_nll_shared(
    model: torch.nn.Module,
    ctx_ids: Tensor,
    block_ids: Tensor,
    n_gold: int,
    prefix_lens: Tensor,
    max_block_tokens: int | None = 8192,
) -> Tensor:
    """L(p_k) for every prefix length in ``prefix_lens`` (K,), from the context ``ctx_ids`` (L,) and the
    answer block ``block_ids`` (A,) whose last ``n_gold`` tokens are the gold answer -> (K,) float32.

    One forward when K*A <= ``max_block_tokens`` (or it is None); otherwise the context runs once into a
    KV cache and the blocks follow in chunks of at most that many tokens, each on the same cache.
    """
    K, A = prefix_lens.numel(), block_ids.numel()
    dtype = next(model.parameters()).dtype
    if max_block_tokens is None or max_block_tokens >= K * A:
        blocks = block_layout(ctx_ids.numel(), block_ids, n_gold, prefix_lens, True, ctx_ids)
        return _run_blocks(model, blocks, dtype)
    per = max(1, max_block_tokens // A)
    L = ctx_ids.numel()
    out = model(input_ids=ctx_ids[None], use_cache=True, logits_to_keep=1)
    cache = getattr(out, cache_kwarg(model))
    nll = []
    for start in range(0, K, per):
        chunk = prefix_lens[start : start + per]
        blocks = block_layout(L, block_ids, n_gold, chunk, False, None)
        nll.append(_run_blocks(model, blocks, dtype, use_cache=True, **{cache_kwarg(model): cache}))
        cache.crop(-chunk.numel() * A)  # drop this chunk's keys and values; the context's stay
    return torch.cat(nll)


@torch.no_grad()
def answer_nll_per_prefix(
    model: torch.nn.Module, ctx_ids: Tensor, block_ids: Tensor, n_gold: int, prefix_lens: Sequence[int]
) -> Tensor:
    """The reference: one forward over ``ctx[:p] + block`` per prefix length p -> (K,) float32."""
    A = block_ids.numel()
    nll = []
    for p in prefix_lens:
        ids = torch.cat([ctx_ids[: int(p)], block_ids])[None]  # (1, p + A)
        logits = model(input_ids=ids).logits[0, p + A - n_gold - 1 : p + A - 1]  # (G, V)
        nll.append(_gold_nll(logits, block_ids[A - n_gold :][None]))
    return torch.cat(nll) if nll else torch.zeros(0)


def prefix_points(
    n_response: int, tail: int, every: int = 1, boundaries: Sequence[int] | None = None
) -> list[int]:
    """The trace lengths j (tokens of the response kept) at which L is measured.

    j runs over 0 (the prompt alone) .. n_response in steps of ``every``, or over ``boundaries`` (token
    counts after which a sentence or paragraph ends) with 0 and n_response added. The points past
    ``n_response - tail`` are dropped: there the trace itself writes the answer (the notebook drops the
    last len(answer prompt + gold) points).
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    points = range(0, n_response + 1, every) if boundaries is None else sorted({0, *boundaries, n_response})
    last = n_response - tail
    return [j for j in points if 0 <= j <= last]


def boundary_points(token_texts: Sequence[str], at: str) -> list[int]:
    """Trace lengths after which a sentence (``.``/``!``/``?``/newline) or a paragraph (a blank line) ends;
    any other ``at`` is a literal separator: the points follow each token whose text ends with it (``" "``
    after each step of a trace whose steps are separated by spaces)."""
    if not at:
        raise ValueError("--at must be 'sentence', 'paragraph' or a non-empty separator")
    out = []
    for j, piece in enumerate(token_texts, start=1):
        if at == "paragraph":
            hit = "\n\n" in piece
        elif at == "sentence":
            hit = piece.rstrip(" ").endswith((".", "!", "?", "\n"))
        else:
            hit = piece.endswith(at)
        if hit:
            out.append(j)
    return out
