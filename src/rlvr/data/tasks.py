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


@GENERATORS.register("arithmetic")
def arithmetic(size: int, seed: int, max_value: int = 20, split: str = "train") -> list[Sample]:
    """``Compute 7*3+4. Put the final answer in \\boxed{}.`` scored by the ``math`` verifier."""
    rng = random.Random(seed)
    samples = []
    for i in range(size):
        a, b, c = (rng.randint(0, max_value) for _ in range(3))
        op = rng.choice("+-*")
        expr = f"{a}{op}{b}+{c}"
        answer = str(eval(expr))  # noqa: S307  (our own digits and operators)
        samples.append(
            Sample(
                id=f"arithmetic-{split}-{seed}-{i}",
                prompt=f"Compute {expr}. Put the final answer in \\boxed{{}}.\n",
                data_source="arithmetic",
                reward=RewardSpec(verifier="math", ground_truth=answer),
                response=f"\\boxed{{{answer}}}",
            )
        )
    return samples


@GENERATORS.register("python_io")
def python_io(size: int, seed: int, split: str = "train") -> list[Sample]:
    """``Write a Python program that reads n and prints n*k``, scored by running it (``code`` verifier)
    on three stdin/stdout tests in the sandbox."""
    rng = random.Random(seed)
    samples = []
    for i in range(size):
        k = rng.randint(2, 9)
        tests = [{"input": f"{n}\n", "output": f"{n * k}\n"} for n in rng.sample(range(100), 3)]
        samples.append(
            Sample(
                id=f"python_io-{split}-{seed}-{i}",
                prompt=f"Write a Python program that reads an integer n and prints n*{k}.\n",
                data_source="code",
                reward=RewardSpec(verifier="code", ground_truth={"tests": tests}, params={"timeout_s": 2.0}),
                response=f"```python\nprint(int(input())*{k})\n```",
            )
        )
    return samples
