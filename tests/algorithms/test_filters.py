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
