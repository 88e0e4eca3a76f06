import pytest
import torch

from rlvr.eval.analysis.confidence import (
    answer_nll_per_prefix,
    answer_nll_shared,
    block_layout,
    boundary_points,
    prefix_points,
)
from rlvr.eval.analysis.curves import Curve, average_curves, on_grid
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer


def test_block_layout_masks_positions_and_gold_indices():
    ctx = torch.tensor([10, 11, 12])
    block = torch.tensor([20, 21])  # answer prompt 20, gold 21
    b = block_layout(3, block, 1, torch.tensor([1, 3]), True, ctx)
    assert b.input_ids.tolist() == [10, 11, 12, 20, 21, 20, 21]
    assert b.position_ids.tolist() == [0, 1, 2, 1, 2, 3, 4]
    allowed = (b.mask == 0).int().tolist()
    assert allowed == [
        [1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0],
        [1, 0, 0, 1, 0, 0, 0],  # block 1 sees ctx[:1] and itself
        [1, 0, 0, 1, 1, 0, 0],
        [1, 1, 1, 0, 0, 1, 0],  # block 2 sees ctx[:3], not block 1
        [1, 1, 1, 0, 0, 1, 1],
    ]
    assert b.logit_index.tolist() == [[3], [5]]  # the answer-prompt token predicts the gold token
    cached = block_layout(3, block, 1, torch.tensor([2]), False, None)
    assert cached.input_ids.tolist() == [20, 21] and cached.position_ids.tolist() == [2, 3]
    assert (cached.mask == 0).int().tolist() == [[1, 1, 0, 1, 0], [1, 1, 0, 1, 1]]
    assert cached.logit_index.tolist() == [[0]]


def test_block_layout_rejects_an_empty_answer_prompt_and_bad_prefixes():
    with pytest.raises(ValueError, match="non-empty answer prompt"):
        block_layout(3, torch.tensor([5, 6]), 2, torch.tensor([1]), True, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[1, 3\]"):
        block_layout(3, torch.tensor([5, 6]), 1, torch.tensor([0]), True, torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("max_block_tokens", [None, 40])
def test_one_forward_equals_one_forward_per_prefix(attn, max_block_tokens):
    torch.manual_seed(0)
    tok = build_tokenizer()
    model = build_tiny_model(TinyModelConfig(max_positions=256, num_layers=2), tok).eval()
    model.set_attn_implementation(attn)
    ctx = torch.randint(4, 60, (90,))
    block = torch.randint(4, 60, (9,))
    lens = torch.tensor([1, 2, 5, 30, 31, 60, 89, 90])
    shared = answer_nll_shared(model, ctx, block, 4, lens, max_block_tokens)
    loop = answer_nll_per_prefix(model, ctx, block, 4, lens.tolist())
    assert shared.shape == (8,)
    assert (shared - loop).abs().max().item() < 1e-5


def test_prefix_points_drop_the_tail_where_the_trace_writes_the_answer():
    assert prefix_points(10, 3) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert prefix_points(10, 3, every=3) == [0, 3, 6]
    assert prefix_points(10, 0, boundaries=[4, 2]) == [0, 2, 4, 10]
    assert prefix_points(2, 5) == []


def test_boundary_points():
    pieces = ["A", " b", ".", " C", "\n\n", "d", "?"]
    assert boundary_points(pieces, "sentence") == [3, 5, 7]
    assert boundary_points(pieces, "paragraph") == [5]


def test_curves_on_a_common_axis_and_their_averages():
    a = Curve("a", True, 4, [0, 2, 4], [3.0, 2.0, 0.0])
    b = Curve("b", True, 4, [0, 4], [1.0, 1.0])
    c = Curve("c", False, 4, [0, 4], [2.0, 4.0])
    assert on_grid(a, 5) == [3.0, 2.5, 2.0, 1.0, 0.0]
    avg = average_curves([a, b, c, Curve("d", False, 0, [0], [5.0])], 5)
    assert avg["correct"] == [2.0, 1.75, 1.5, 1.0, 0.5]
    assert avg["incorrect"] == [2.0, 2.5, 3.0, 3.5, 4.0]
    assert avg["n_correct"] == 2 and avg["n_incorrect"] == 1


def test_boundary_points_after_a_literal_separator():
    assert boundary_points(list("ab cd ef"), " ") == [3, 6]
