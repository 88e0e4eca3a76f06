import torch

from rlvr.algorithms.subsample import update_subset, update_subset_generator


def test_update_subset_keeps_the_k_smallest_keys_of_each_group():
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 3])
    keep = update_subset(groups, 2, torch.Generator().manual_seed(7))
    keys = torch.rand(11, generator=torch.Generator().manual_seed(7))
    expected = torch.zeros(11, dtype=torch.bool)
    for g in groups.unique():
        rows = (groups == g).nonzero().squeeze(-1)
        expected[rows[keys[rows].argsort()[:2]]] = True  # the loop version: sort each group's keys
    assert keep.tolist() == expected.tolist()
    assert [int(keep[groups == g].sum()) for g in range(4)] == [2, 2, 1, 2]


def test_update_subset_is_seeded_and_uniform_over_rows():
    groups = torch.arange(4).repeat_interleave(8)  # 4 groups of 8
    a = update_subset(groups, 3, update_subset_generator(0, 5))
    b = update_subset(groups, 3, update_subset_generator(0, 5))
    assert a.tolist() == b.tolist()
    assert update_subset(groups, 8).all() and update_subset(groups, 9).all()
    counts = torch.zeros(32)
    for update in range(2000):
        counts += update_subset(groups, 3, update_subset_generator(1, update)).float()
    assert counts.sum() == 2000 * 12
    assert ((counts / 2000 - 3 / 8).abs() < 0.04).all()  # each row chosen with probability k/n
