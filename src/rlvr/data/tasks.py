"""Small built-in synthetic tasks, registered as data generators (the quickstart uses ``digit_sort``)."""

from __future__ import annotations

import random

from rlvr.data.generators import GENERATORS
from rlvr.data.sample import RewardSpec, Sample


@GENERATORS.register("digit_sort")
def digit_sort(size: int, seed: int, num_digits: int = 6, split: str = "train") -> list[Sample]:
    """``sort 583920=`` -> ``023589``: sort a string of random digits, scored by exact match.

    Verifiable, learnable by a tiny model in seconds, and hard enough that a short SFT warm start leaves
    room for RL. ``split`` only prefixes ids, so that train and eval sets drawn with different seeds do
    not collide. Problems are drawn independently; use distinct seeds for disjoint-in-practice splits.
    """
    rng = random.Random(seed)
    samples = []
    for i in range(size):
        digits = "".join(rng.choice("0123456789") for _ in range(num_digits))
        answer = "".join(sorted(digits))
        samples.append(
            Sample(
                id=f"digit_sort-{split}-{seed}-{i}",
                prompt=f"sort {digits}=",
                data_source="digit_sort",
                reward=RewardSpec(verifier="exact_match", ground_truth=answer),
                response=answer,
            )
        )
    return samples
