"""Pure estimators over n samples per problem."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"):

        pass@k = 1 - C(n - c, k) / C(n, k)

    for n samples of which c are correct, computed as a stable product.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_correct(answers: Sequence[str | None], correct: Sequence[bool]) -> bool:
    """maj@n: is the most frequent extracted answer (ties: first seen) a correct one?"""
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return False
    top = votes.most_common(1)[0][0]
    return any(ok for a, ok in zip(answers, correct, strict=True) if a == top)
