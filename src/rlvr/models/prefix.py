"""Shared prompt prefixes: run a prompt once for all the completions of its group.

GRPO-style batches hold n completions of each prompt, so most of a forward pass over ``prompt +
response`` recomputes the same prompt n times. Here the distinct prompt prefixes go through the model
once, their KV cache is gathered to one row per completion, and only the responses run per row:

    prefix pass   (U, P)    one row per distinct prompt       -> KV cache (U, ...), last logits (U, V)
    gather        cache rows[inverse]                         -> KV cache (B, ...)
    suffix pass   (B, R-1)  the response but its last token   -> logits (B, R-1, V)

The prompt's last logits predict a response's first token, and a response's last token is never an
input (its logits would predict past the end), so the suffix pass runs R-1 columns a row. The result
equals one pass over (B, P+R) up to float rounding, gradients included (they flow back through the
gathered cache and logits to the shared prefix). ``SharedPrefix`` keeps the prefix cache so that
several suffix passes (rows grouped by response length) reuse it. The engine uses the same gather
after prefilling each prompt once.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor

from rlvr.models.kv_cache import copy_rows, is_layered, select_rows


def cache_kwarg(model: torch.nn.Module) -> str:
    """The forward keyword of the KV cache: transformers 5.x renamed ``past_key_values`` to ``cache``."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def distinct_rows(*columns: Tensor) -> tuple[Tensor, Tensor]:
    """Rows that are equal in every column tensor, grouped. columns: each (B, ...) -> first (U,), inverse (B,).

    ``first[u]`` is the first row of group u (groups in order of first appearance) and
    ``inverse[b]`` the group of row b, so ``x[first][inverse]`` equals ``x`` row for row.
    """
    B = columns[0].size(0)
    key = torch.cat([c.reshape(B, -1).long() for c in columns], dim=1)  # (B, K)
    _, inverse = torch.unique(key, dim=0, return_inverse=True)  # groups in sorted order
    rows = torch.arange(B, device=key.device)
    first_sorted = torch.full((int(inverse.max()) + 1,), B, dtype=torch.long, device=key.device)
    first_sorted = first_sorted.scatter_reduce(0, inverse, rows, reduce="amin")  # (U,)
    # renumber the groups by first appearance, so a group-major batch keeps its order
    order = first_sorted.argsort()
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=key.device)
    return first_sorted[order], rank[inverse]


def shares_prefixes(model: torch.nn.Module) -> bool:
    """Whether a forward with a given KV cache is honoured (activation checkpointing drops the cache)."""
    return not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


class SharedPrefix:
    """The KV cache and last logits of the first ``width`` columns of a batch, computed once per
    distinct prefix.

    ``logits(rows, ...)`` runs the remaining columns of any subset of the batch's rows (a pass trimmed
    to its own response width, say) on top of the cache, which is gathered anew for each call;
    ``last_logits(rows)`` are the prefix's own last-position logits for those rows.
    """

    def __init__(self, model: torch.nn.Module, cache, last: Tensor, inverse: Tensor, width: int) -> None:
        self.model, self.cache, self.inverse, self.width = model, cache, inverse, width
        self._last = last  # (U, V)
        self.cache_kw = cache_kwarg(model)

    @classmethod
    def build(
        cls,
        model: torch.nn.Module,
        input_ids: Tensor,
        attention_mask: Tensor,
        position_ids: Tensor,
        width: int,
        min_share: float = 1.5,
    ) -> SharedPrefix | None:
        """Run the distinct prefixes of (B, T) inputs; None when rows share a prefix less than
        ``min_share`` times on average (nothing to gain), when ``width`` < 1, or when the model cannot
        take a cache."""
        if width < 1 or not shares_prefixes(model):
            return None
        cols = slice(0, width)
        first, inverse = distinct_rows(input_ids[:, cols], attention_mask[:, cols], position_ids[:, cols])
        if first.numel() * min_share > input_ids.size(0):
            return None
        out = model(
            input_ids=input_ids[first, cols],
            attention_mask=attention_mask[first, cols],
            position_ids=position_ids[first, cols],
            use_cache=True,
            logits_to_keep=1,
        )
        cache = getattr(out, cache_kwarg(model))
        return cls(model, cache, out.logits[:, -1, :], inverse, width) if is_layered(cache) else None

    def last_logits(self, rows: Tensor) -> Tensor:
        """Logits (b, V) at the prefix's last position for rows ``rows`` (b,) of the batch."""
        return select_rows(self._last, self.inverse[rows])

    def logits(
        self,
        rows: Tensor,
        input_ids: Tensor,
        attention_mask: Tensor,
        position_ids: Tensor,
        logits_to_keep: int,
    ) -> Tensor:
        """Logits (b, logits_to_keep, V) of rows ``rows`` (b,) of the batch, given their full (b, T')
        inputs (the prefix columns are not run again; T' may be shorter than the batch's T)."""
        assert input_ids.shape == attention_mask.shape == position_ids.shape
        assert logits_to_keep <= input_ids.size(1) - self.width, "kept logits must come after the prefix"
        cache = copy_rows(self.cache, self.inverse[rows])  # (b, ...): one row of keys/values per completion
        out = self.model(
            input_ids=input_ids[:, self.width :],
            attention_mask=attention_mask,
            position_ids=position_ids[:, self.width :],
            use_cache=True,
            logits_to_keep=logits_to_keep,
            **{self.cache_kw: cache},
        )
        return out.logits
