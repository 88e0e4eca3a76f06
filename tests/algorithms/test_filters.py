import torch

from rlvr.algorithms.filters import informative_groups, not_truncated


def test_groups_with_equal_rewards_are_dropped():
    scores = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.5, 0.5, 7.0])
    groups = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4])
    # group 0 all correct, 1 all wrong, 2 mixed, 3 equal partial scores, 4 a group of one
    assert informative_groups(scores, groups).tolist() == [
        False,
        False,
        False,
        False,
        True,
        True,
        False,
        False,
        False,
    ]


def test_group_ids_need_not_be_contiguous_or_sorted():
    scores = torch.tensor([0.0, 1.0, 0.0, 0.0])
    groups = torch.tensor([9, 3, 3, 9])
    assert informative_groups(scores, groups).tolist() == [False, True, True, False]


def test_truncated_samples_are_masked():
    assert not_truncated(torch.tensor([True, False])).tolist() == [False, True]


# ---- the registry ---------------------------------------------------------------------------------
from rlvr.algorithms import FILTERS, POLICY_LOSSES  # noqa: E402
from rlvr.algorithms.filters import FilterInput  # noqa: E402
from rlvr.algorithms.registries import zero_at_zero_advantage  # noqa: E402


def _rows(kept=None, **fields) -> FilterInput:
    n = len(next(iter(fields.values())))
    return FilterInput(kept=torch.ones(n, dtype=torch.bool) if kept is None else torch.tensor(kept), **fields)


def test_registered_filters_and_their_stages():
    assert FILTERS.names() == ["dynamic_sampling", "errored", "overlong", "zero_advantage"]
    stages = {n: (FILTERS.get(n).stage, FILTERS.get(n).drop_from_groups) for n in FILTERS.names()}
    assert stages == {
        "dynamic_sampling": ("collect", False),
        "errored": ("loss", True),
        "overlong": ("loss", False),
        "zero_advantage": ("update", False),
    }


def test_errored_and_overlong_keep_the_other_rows():
    x = _rows(
        errored=torch.tensor([False, True, False, True]), truncated=torch.tensor([True, False, False, True])
    )
    assert FILTERS.get("errored").fn(x).tolist() == [True, False, True, False]
    assert FILTERS.get("overlong").fn(x).tolist() == [False, True, True, False]


def test_dynamic_sampling_judges_a_group_by_its_kept_rows_and_keeps_all_of_it():
    scores = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    groups = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    everything = FILTERS.get("dynamic_sampling").fn(_rows(scores=scores, group_index=groups))
    assert everything.tolist() == [False, False, True, True, False, False, True, True]
    # row 7 errored (left out by an earlier filter): group 3 has one kept row, so no spread; row 2 errored
    # too, but group 1 is judged by row 3 alone and dropped as well
    kept = [True, True, False, True, True, True, True, False]
    x = _rows(kept=kept, scores=scores, group_index=groups)
    assert FILTERS.get("dynamic_sampling").fn(x).tolist() == [False] * 8
    kept = [True, True, True, True, True, True, True, False]  # only row 7 out: group 1 stays, whole
    x = _rows(kept=kept, scores=scores, group_index=groups)
    assert FILTERS.get("dynamic_sampling").fn(x).tolist() == [
        False,
        False,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_zero_advantage_keeps_rows_with_a_nonzero_advantage_on_a_response_token():
    adv = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 2.0], [-1.0, -1.0, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # row 2's only nonzero advantage sits on padding
    x = FilterInput(kept=torch.ones(4, dtype=torch.bool), advantages=adv, response_mask=mask)
    assert FILTERS.get("zero_advantage").fn(x).tolist() == [False, True, False, True]


def test_a_filter_without_what_it_needs_says_so():
    import pytest

    with pytest.raises(ValueError, match="needs FilterInput.advantages"):
        FILTERS.get("zero_advantage").fn(FilterInput(kept=torch.ones(2, dtype=torch.bool)))


def test_losses_declare_whether_they_vanish_at_zero_advantage():
    assert zero_at_zero_advantage(POLICY_LOSSES.get("ppo_clip"))
    assert zero_at_zero_advantage(POLICY_LOSSES.get("vanilla_pg"))
    assert not zero_at_zero_advantage(lambda *a, **k: None)  # a user loss declares nothing: every row trains
