"""Multi-digit addition whose chain of thought carries the digits right to left (a task for RaML's probes).

``a4b8c2d1+a6b5c9d3=`` -> ``d:1+3+0=04 c:2+9+0=11 b:8+5+1=14 a:4+6+1=11 \\boxed{11404}``. Each operand
digit carries an index letter (``a`` most significant), so a step of the trace only looks up the two
digits of its letter and the carry written by the step before: every step is locally easy. The answer is
written most significant digit first, zero-padded to ``num_digits + 1`` digits, so without the trace the
model must resolve every carry at once (``thinking: false`` gives that control: the response is the
answer alone). Each trace step fixes one more answer digit, so the gold answer's likelihood can rise
step by step along the trace, the shape RaML's confidence probe looks for.

The answer prompt of the task is ``\\boxed{`` (``metadata["answer_prompt"]``), scored by ``exact_match``
with ``boxed: true``. Not registered by name: recipes name it ``rlvr.data.addition:carry_addition``.
"""

from __future__ import annotations

import random

from rlvr.data.sample import RewardSpec, Sample

LETTERS = "abcdefghij"
ANSWER_PROMPT = "\\boxed{"


def addition_steps(x: str, y: str) -> tuple[list[str], str]:
    """(steps, answer) for two digit strings of equal length: one step per digit, least significant first."""
    n, carry, steps, digits = len(x), 0, [], []
    for i in reversed(range(n)):
        a, b = int(x[i]), int(y[i])
        s = a + b + carry
        steps.append(f"{LETTERS[i]}:{a}+{b}+{carry}={s:02d}")
        digits.append(str(s % 10))
        carry = s // 10
    return steps, str(carry) + "".join(reversed(digits))


def carry_addition(
    size: int,
    seed: int,
    num_digits: int = 4,
    thinking: bool = True,
    early_answers: float = 0.0,
    cue: str = ANSWER_PROMPT,
    split: str = "train",
) -> list[Sample]:
    """``size`` additions of two ``num_digits``-digit numbers (with index letters); see the module doc.

    ``cue`` opens the answer (and is the task's answer prompt for the probes). With ``early_answers`` > 0
    that fraction of the responses stops after a random number k of steps (0..num_digits) and answers
    there, after ``cue``: a model trained on them answers on demand at any step boundary, as RaML's probe
    asks of it. Give such a run a cue the full traces do not use (``!\\boxed{``), so that sampling never
    stops early unasked.
    """
    if not 1 <= num_digits <= len(LETTERS):
        raise ValueError(f"num_digits must be in [1, {len(LETTERS)}], got {num_digits}")
    rng = random.Random(seed)
    samples = []
    for i in range(size):
        x = "".join(rng.choice("0123456789") for _ in range(num_digits))
        y = "".join(rng.choice("0123456789") for _ in range(num_digits))
        steps, answer = addition_steps(x, y)
        tagged = ["".join(f"{LETTERS[k]}{d}" for k, d in enumerate(v)) for v in (x, y)]
        if not thinking:
            response = f"{cue}{answer}}}"
        elif early_answers > 0 and rng.random() < early_answers:
            response = " ".join([*steps[: rng.randint(0, num_digits)], f"{cue}{answer}}}"])
        else:
            response = " ".join([*steps, f"{ANSWER_PROMPT}{answer}}}"])
        samples.append(
            Sample(
                id=f"carry_addition-{split}-{seed}-{i}",
                prompt=f"{tagged[0]}+{tagged[1]}=",
                data_source="carry_addition" if thinking else "carry_addition_direct",
                reward=RewardSpec(verifier="exact_match", ground_truth=answer, params={"boxed": True}),
                response=response,
                metadata={"answer_prompt": cue, "answer": answer},
            )
        )
    return samples
