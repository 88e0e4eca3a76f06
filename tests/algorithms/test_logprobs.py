"""Chunked log-probs and entropies equal the plain (B, R, V) computation, values and gradients."""

import pytest
import torch

from rlvr.algorithms.entropy import entropy_from_logits, logprobs_from_logits
from rlvr.algorithms.logprobs import token_logprobs


def _plain(logits, labels, T):
    z = logits / T
    return logprobs_from_logits(z, labels), entropy_from_logits(z)


@pytest.mark.parametrize("chunk", [1, 5, 4096])
@pytest.mark.parametrize("T", [1.0, 0.7])
def test_values_and_gradients_match_the_plain_computation(chunk, T):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 7, 50, generator=g) * 3).requires_grad_()
    labels = torch.randint(0, 50, (3, 7), generator=g)
    w_lp, w_h = torch.randn(3, 7, generator=g), torch.randn(3, 7, generator=g)

    lp, h = token_logprobs(logits, labels, T, with_entropy=True, entropy_grad=True, chunk_tokens=chunk)
    (lp * w_lp + h * w_h).sum().backward()
    grad = logits.grad.clone()
    logits.grad = None
    lp0, h0 = _plain(logits, labels, T)
    (lp0 * w_lp + h0 * w_h).sum().backward()

    assert lp.dtype == h.dtype == torch.float32 and lp.shape == h.shape == (3, 7)
    torch.testing.assert_close(lp, lp0, rtol=0, atol=1e-5)
    torch.testing.assert_close(h, h0, rtol=0, atol=1e-5)
    torch.testing.assert_close(grad, logits.grad, rtol=0, atol=1e-6)


def test_a_hand_computed_case():
    """z = [0, ln 3] at T = 1: p = [1/4, 3/4]; log p(1) = ln 3/4; d log p(1)/dz = [-1/4, 1/4]."""
    logits = torch.tensor([[[0.0, torch.log(torch.tensor(3.0))]]], requires_grad=True)
    lp, h = token_logprobs(logits, torch.tensor([[1]]), with_entropy=True)
    lp.sum().backward()
    assert lp.item() == pytest.approx(torch.log(torch.tensor(0.75)).item(), abs=1e-7)
    assert h.item() == pytest.approx(
        -(0.25 * torch.log(torch.tensor(0.25)) + 0.75 * torch.log(torch.tensor(0.75))).item(), abs=1e-6
    )
    torch.testing.assert_close(logits.grad, torch.tensor([[[-0.25, 0.25]]]))


def test_bfloat16_logits_get_a_bfloat16_gradient_equal_to_the_plain_one():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 64, generator=g).bfloat16().requires_grad_()
    labels = torch.randint(0, 64, (2, 4), generator=g)
    lp, h = token_logprobs(logits, labels, 1.0, with_entropy=True, chunk_tokens=3)
    assert h.grad_fn is None  # a metric: no graph kept
    lp.sum().backward()
    grad = logits.grad.clone()
    logits.grad = None
    logprobs_from_logits(logits, labels).sum().backward()
    assert grad.dtype == torch.bfloat16
    torch.testing.assert_close(grad.float(), logits.grad.float(), rtol=0, atol=1e-2)


@pytest.mark.parametrize("chunk", [1, 5, 4096])
@pytest.mark.parametrize("T", [1.0, 0.7])
def test_the_entropy_metric_from_the_logprob_pass_equals_the_plain_one(chunk, T):
    """Without entropy_grad the entropy comes out of the log-probs' own loop (same chunk, same
    logsumexp); the log-probs' gradient is unchanged by it. A vocabulary entry masked to -inf gives
    p log p = 0 there, as in the plain computation."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 7, 50, generator=g) * 3
    logits[0, :, :10] = float("-inf")
    logits.requires_grad_()
    labels = torch.randint(10, 50, (3, 7), generator=g)
    lp, h = token_logprobs(logits, labels, T, with_entropy=True, entropy_grad=False, chunk_tokens=chunk)
    assert h.grad_fn is None
    lp.sum().backward()
    grad = logits.grad.clone()
    logits.grad = None
    lp0, h0 = _plain(logits, labels, T)
    lp0.sum().backward()
    assert torch.isfinite(h).all()
    torch.testing.assert_close(lp, lp0, rtol=0, atol=1e-5)
    torch.testing.assert_close(h, h0.detach(), rtol=0, atol=1e-5)
    torch.testing.assert_close(grad, logits.grad, rtol=0, atol=1e-6)


def test_cpu_chunks_are_capped_to_a_cache_sized_number_of_values():
    from rlvr.algorithms.logprobs import CPU_CHUNK_VALUES, chunk_positions

    cpu = torch.device("cpu")
    assert chunk_positions(1024, 49152, cpu) == CPU_CHUNK_VALUES // 49152 == 10
    assert chunk_positions(1024, 151936, cpu) == 3
    assert chunk_positions(1024, 4 * CPU_CHUNK_VALUES, cpu) == 1  # never below one position
    assert chunk_positions(4, 100, cpu) == 4  # the configured chunk when it is the smaller
    assert chunk_positions(1024, 151936, torch.device("meta")) == 1024  # accelerators: as configured


def test_a_vocabulary_over_the_cpu_cap_gives_the_plain_values_and_gradients():
    """2**17 ids: 4 positions a chunk on the CPU, so 21 positions take 6 chunks, the last one short."""
    g = torch.Generator().manual_seed(3)
    V = 2**17
    logits = (torch.randn(3, 7, V, generator=g) * 2).requires_grad_()
    labels = torch.randint(0, V, (3, 7), generator=g)
    lp, h = token_logprobs(logits, labels, 0.7, with_entropy=True)
    lp.sum().backward()
    grad = logits.grad.clone()
    logits.grad = None
    lp0, h0 = _plain(logits, labels, 0.7)
    lp0.sum().backward()
    torch.testing.assert_close(lp, lp0, rtol=0, atol=2e-5)
    torch.testing.assert_close(h, h0.detach(), rtol=0, atol=2e-5)
    torch.testing.assert_close(grad, logits.grad, rtol=0, atol=1e-7)


def _head_logits(dtype, g, pieces: int = 1):
    """Logits (2, 6, 40) as an LM head makes them (a matmul of hidden states; with ``pieces`` > 1, pieces
    of positions side by side, as a VLM's prefix and suffix passes), and those leaves."""
    h = torch.randn(2, 6, 16, generator=g).to(dtype).requires_grad_()
    w = torch.randn(40, 16, generator=g).to(dtype).requires_grad_()
    parts = [torch.nn.functional.linear(x, w) for x in h.chunk(pieces, dim=1)]
    return (parts[0] if pieces == 1 else torch.cat(parts, dim=1)), h, w


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("with_entropy", [False, True])
@pytest.mark.parametrize("pieces", [1, 2])
def test_the_logits_gradient_written_over_the_logits_is_the_same_gradient(dtype, with_entropy, pieces):
    """``overwrite_logits``: the backward hands autograd the logits' own storage as their gradient (no
    second (B, k, V) tensor), and every gradient upstream is bit for bit the one without it."""
    grads, storage = {}, {}
    for overwrite in (False, True):
        g = torch.Generator().manual_seed(3)
        logits, h, w = _head_logits(dtype, g, pieces)
        labels = torch.randint(0, 40, (2, 6), generator=g)
        logits.register_hook(lambda grad, o=overwrite: storage.__setitem__(o, grad.data_ptr()))
        lp, _ = token_logprobs(
            logits, labels, 0.7, with_entropy=with_entropy, chunk_tokens=5, overwrite_logits=overwrite
        )
        own = logits.data_ptr()
        (lp * torch.linspace(-1, 1, 6)).sum().backward()
        grads[overwrite] = (h.grad, w.grad)
        assert (storage[overwrite] == own) == overwrite
    assert torch.equal(grads[True][0], grads[False][0]) and torch.equal(grads[True][1], grads[False][1])


def test_logits_another_backward_needs_are_not_overwritten():
    """A loss entropy re-reads the logits in its own backward, a leaf is the caller's, and an operator
    that keeps its output (tanh) needs it: each keeps its logits, and the gradients stay right."""
    g = torch.Generator().manual_seed(4)
    labels = torch.randint(0, 40, (2, 6), generator=g)

    logits, h, _ = _head_logits(torch.float32, g)
    lp, ent = token_logprobs(logits, labels, with_entropy=True, entropy_grad=True, overwrite_logits=True)
    kept = logits.detach().clone()
    (lp.sum() + ent.sum()).backward()
    assert torch.equal(logits.detach(), kept)

    leaf = torch.randn(2, 6, 40, generator=g, requires_grad=True)
    kept = leaf.detach().clone()
    token_logprobs(leaf, labels, overwrite_logits=True)[0].sum().backward()
    assert torch.equal(leaf.detach(), kept)

    z, h, w = _head_logits(torch.float32, g)
    capped = torch.tanh(z)  # TanhBackward0 keeps its output
    token_logprobs(capped, labels, overwrite_logits=True)[0].sum().backward()
    grad = h.grad.clone()
    h.grad = None
    logprobs_from_logits(torch.tanh(torch.nn.functional.linear(h, w)), labels).sum().backward()
    torch.testing.assert_close(grad, h.grad, rtol=0, atol=1e-6)
