from math import comb

import pytest

from rlvr.eval.passk import majority_correct, pass_at_k


def test_pass_at_k_by_hand():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - comb(3, 2) / comb(5, 2))  # 0.7
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 4, 2) == 1.0  # n - c < k: every draw of 2 holds a correct one


@pytest.mark.parametrize("n", [1, 7, 64, 256])
def test_pass_at_k_matches_the_binomial_formula(n):
    for c in range(0, n + 1, max(1, n // 9)):
        for k in {k for k in (1, 2, n // 2, n) if 1 <= k <= n}:
            exact = 1 - comb(n - c, k) / comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-9)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(4, 1, 8)


def test_majority_vote():
    assert majority_correct(["3", "4", "3", None], [True, False, True, False])
    assert not majority_correct(["4", "4", "3"], [False, False, True])
    assert not majority_correct([None, None], [False, False])
