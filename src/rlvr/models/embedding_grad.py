"""Sparse gradients for a tied input embedding in the learner's passes.

A model whose LM head shares its weight with the input embedding (SmolLM, Qwen2.5-0.5B / 1.5B, the
quickstart's) gets that weight's gradient from two places: the LM head's, dense (V, d), and the
embedding lookup's. By default the lookup's is dense too: a (V, d) tensor of zeros is filled, the
looked-up rows are added into it, and autograd then adds the whole (V, d) tensor to the LM head's. At
151,936 x 896 that is two passes over 136M values for each model call, to add a few hundred rows: the
prompt pass and the response pass made it 2 fills and 1 add, ~1.5 s of a 0.5B-shape bfloat16 update
on one CPU thread (``benchmarks/learner_shapes.py --profile --by-shape``). With the lookup's gradient
sparse (``nn.Embedding.sparse``), autograd adds its rows into the LM head's dense gradient in place.
The weight's gradient stays dense, so the optimizer and gradient clipping see what they always did.

Only for a tied, trainable, plain (not sharded) ``nn.Embedding``: an untied one would be left with a
sparse ``.grad`` that AdamW refuses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def sparse_tied_embedding_grad(model: torch.nn.Module) -> Iterator[None]:
    """Inside the block, forward passes of ``model`` give its tied input embedding a sparse gradient
    (the setting is read at the forward, so the backward may run after the block); otherwise nothing."""
    embedding = _tied_embedding(model)
    if embedding is None or embedding.sparse:
        yield
        return
    embedding.sparse = True
    try:
        yield
    finally:
        embedding.sparse = False


def _tied_embedding(model: torch.nn.Module) -> torch.nn.Embedding | None:
    """``model``'s input embedding when it is a trainable ``nn.Embedding`` whose weight is the LM head's
    (a plain tensor: a sharded DTensor keeps its dense gradient), else None."""
    get_in = getattr(model, "get_input_embeddings", None)
    get_out = getattr(model, "get_output_embeddings", None)
    if not callable(get_in) or not callable(get_out):
        return None
    embedding, head = get_in(), get_out()
    if not isinstance(embedding, torch.nn.Embedding) or head is None:
        return None
    weight = embedding.weight
    tied = getattr(head, "weight", None) is weight
    plain = type(weight) is torch.nn.Parameter and type(weight.data) is torch.Tensor
    return embedding if tied and plain and weight.requires_grad else None
