"""The tied input embedding's sparse gradient (``rlvr.models.embedding_grad``): the same dense weight
gradient as the default, and nothing changed where it does not apply."""

from __future__ import annotations

import pytest
import torch

from rlvr.models.embedding_grad import sparse_tied_embedding_grad
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer


def _model(tied: bool):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer()
    if tied:
        return build_tiny_model(TinyModelConfig(), tok)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def _grads(model, sparse: bool) -> dict[str, torch.Tensor]:
    """Weight gradients of a loss over two model calls (as the learner's prompt and response passes),
    a token repeated within and across them."""
    model.zero_grad(set_to_none=True)
    ids = torch.tensor([[3, 5, 5, 7], [3, 9, 11, 3]])
    with sparse_tied_embedding_grad(model) if sparse else torch.enable_grad():
        first = model(input_ids=ids).logits
        second = model(input_ids=ids.flip(-1)[:, :3]).logits
    loss = first.float().log_softmax(-1)[..., 5].sum() + second.float().logsumexp(-1).sum()
    loss.backward()
    return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def test_tied_embedding_gets_the_same_dense_gradient():
    model = _model(tied=True)
    embedding = model.get_input_embeddings()
    assert model.get_output_embeddings().weight is embedding.weight
    dense, sparse = _grads(model, sparse=False), _grads(model, sparse=True)
    assert dense.keys() == sparse.keys()
    for name, g in sparse.items():
        assert g.layout == torch.strided, name  # the optimizer sees a dense gradient
        torch.testing.assert_close(g, dense[name], rtol=1e-5, atol=1e-7, msg=name)
    assert not embedding.sparse  # restored after the block


def test_untied_frozen_or_already_sparse_embeddings_are_left_alone():
    untied = _model(tied=False)
    with sparse_tied_embedding_grad(untied):
        assert not untied.get_input_embeddings().sparse
    grads = _grads(untied, sparse=True)
    assert grads["model.embed_tokens.weight"].layout == torch.strided

    frozen = _model(tied=True)
    frozen.get_input_embeddings().weight.requires_grad_(False)
    with sparse_tied_embedding_grad(frozen):
        assert not frozen.get_input_embeddings().sparse

    chosen = _model(tied=True)
    chosen.get_input_embeddings().sparse = True  # the user's own setting stays as it is
    with sparse_tied_embedding_grad(chosen):
        pass
    assert chosen.get_input_embeddings().sparse


def test_a_model_without_embedding_accessors_is_left_alone():
    plain = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10))
    with sparse_tied_embedding_grad(plain):
        assert not plain[0].sparse


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_low_precision_gradient_agrees_to_its_rounding(dtype):
    model = _model(tied=True).to(dtype)
    dense, sparse = _grads(model, sparse=False), _grads(model, sparse=True)
    for name, g in sparse.items():
        torch.testing.assert_close(g.float(), dense[name].float(), rtol=2e-2, atol=1e-3, msg=name)
