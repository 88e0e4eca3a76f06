"""Loss aggregations: hand-computed values, and exact micro-batch accumulation with global counts."""

import pytest
import torch

from rlvr.algorithms import LOSS_AGGREGATIONS

NAMES = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "seq_mean_token_sum_norm"]

LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = torch.tensor([[1, 1, 0], [1, 0, 0]])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("token_mean", 7 / 3),  # (1 + 2 + 4) / 3 tokens
        ("seq_mean_token_mean", 2.75),  # (mean(1, 2) + mean(4)) / 2 = (1.5 + 4) / 2
        ("seq_mean_token_sum", 3.5),  # ((1 + 2) + 4) / 2
        ("seq_mean_token_sum_norm", 0.875),  # (1 + 2 + 4) / (2 * norm_len 4)
    ],
)
def test_hand_computed(name, expected):
    value = LOSS_AGGREGATIONS.get(name)(LOSS, MASK, norm_len=4)
    assert value.dim() == 0
    assert value.item() == pytest.approx(expected)


def test_norm_len_required():
    with pytest.raises(ValueError, match="norm_len"):
        LOSS_AGGREGATIONS.get("seq_mean_token_sum_norm")(LOSS, MASK)


def test_nan_in_padding_does_not_leak():
    loss = LOSS.clone()
    loss[1, 2] = float("nan")
    for name in NAMES:
        assert torch.isfinite(LOSS_AGGREGATIONS.get(name)(loss, MASK, norm_len=4))


@pytest.mark.parametrize("name", NAMES)
def test_empty_mask_gives_zero_with_graph(name):
    loss = LOSS.clone().requires_grad_(True)
    mask = torch.zeros_like(MASK)
    value = LOSS_AGGREGATIONS.get(name)(loss, mask, norm_len=4)
    assert value.item() == 0.0 and value.requires_grad
    value.backward()
    assert loss.grad.abs().sum() == 0
    zero_count = LOSS_AGGREGATIONS.get(name)(loss, MASK, num_tokens=0, num_seqs=0, norm_len=4)
    assert zero_count.item() == 0.0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("split", [[1, 1, 1, 1, 1, 1], [2, 4], [3, 1, 2], [6]])
def test_micro_batches_sum_to_full_batch(name, split):
    g = torch.Generator().manual_seed(0)
    loss = torch.randn(6, 5, generator=g, requires_grad=True)
    mask = (torch.rand(6, 5, generator=g) > 0.4).float()
    mask[2] = 0  # a sequence with no valid token
    fn = LOSS_AGGREGATIONS.get(name)
    counts = {"num_tokens": float(mask.sum()), "num_seqs": 6.0, "norm_len": 5}
    full = fn(loss, mask, norm_len=5)
    (full_grad,) = torch.autograd.grad(full, loss)
    summed = sum(fn(lo, m, **counts) for lo, m in zip(loss.split(split), mask.split(split), strict=True))
    (summed_grad,) = torch.autograd.grad(summed, loss)
    torch.testing.assert_close(summed, full)
    torch.testing.assert_close(summed_grad, full_grad)
