"""PromptSampler: deterministic epochs, exact resume (also at an epoch boundary)."""

from __future__ import annotations

import pytest

from rlvr.data import PromptSampler


def _take(sampler: PromptSampler, n: int) -> list[list[int]]:
    return [sampler.next_batch() for _ in range(n)]


def test_epochs_cover_every_index_and_reshuffle():
    s = PromptSampler(10, 3, seed=5)  # 3 batches per epoch, one index dropped each epoch
    assert s.batches_per_epoch == 3
    e0, e1 = _take(s, 3), _take(s, 3)
    assert all(len(b) == 3 for b in e0 + e1)
    assert len({i for b in e0 for i in b}) == 9 and len({i for b in e1 for i in b}) == 9
    assert e0 != e1
    assert _take(PromptSampler(10, 3, seed=5), 6) == e0 + e1
    assert _take(PromptSampler(10, 3, seed=6), 3) != e0


def test_no_shuffle_no_drop_last():
    s = PromptSampler(5, 2, shuffle=False, drop_last=False)
    assert s.batches_per_epoch == 3
    assert _take(s, 4) == [[0, 1], [2, 3], [4], [0, 1]]


@pytest.mark.parametrize("consumed", [0, 1, 2, 3, 4, 5, 7])
def test_resume_continues_with_the_same_batches(consumed):
    ref = PromptSampler(11, 4, seed=3)  # 2 batches per epoch
    expected = _take(ref, consumed + 6)[consumed:]
    run = PromptSampler(11, 4, seed=3)
    _take(run, consumed)
    state = run.state_dict()
    resumed = PromptSampler(11, 4, seed=999)  # the saved seed wins
    resumed.load_state_dict(state)
    assert _take(resumed, 6) == expected


def test_resume_at_epoch_boundary_does_not_skip_an_epoch():
    s = PromptSampler(8, 4, seed=0)
    epoch0 = _take(s, 2)
    state = s.state_dict()
    assert state == {"epoch": 1, "index": 0, "seed": 0}
    resumed = PromptSampler(8, 4, seed=0)
    resumed.load_state_dict(state)
    epoch1 = _take(resumed, 2)
    assert epoch1 == _take(PromptSampler(8, 4, seed=0), 4)[2:]
    assert sorted(i for b in epoch1 for i in b) == list(range(8)) and epoch1 != epoch0
    assert resumed.state_dict()["epoch"] == 2


def test_iter_is_infinite_and_shares_state():
    s = PromptSampler(4, 2, seed=1)
    it = iter(s)
    batches = [next(it) for _ in range(5)]
    assert s.state_dict() == {"epoch": 2, "index": 2, "seed": 1}
    assert batches == _take(PromptSampler(4, 2, seed=1), 5)


def test_bad_arguments_and_states():
    with pytest.raises(ValueError, match="would yield no batch"):
        PromptSampler(3, 4)
    s = PromptSampler(10, 2)
    with pytest.raises(ValueError, match=r"missing \['index'\]"):
        s.load_state_dict({"epoch": 0, "seed": 0})
    with pytest.raises(ValueError, match="out of range"):
        s.load_state_dict({"epoch": 0, "index": 10, "seed": 0})
