"""Small built-in synthetic tasks, registered as data generators (the quickstart uses ``digit_sort``)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from rlvr.data.generators import GENERATORS, generate
from rlvr.data.sample import EnvSpec, RewardSpec, Sample


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


@GENERATORS.register("variant")
def variant(
    size: int,
    seed: int,
    task: str,
    task_kwargs: dict[str, Any] | None = None,
    data_source: str | None = None,
    verifier: str | None = None,
    params: dict[str, Any] | None = None,
    weight: float = 1.0,
    truth_weight: float = 0.0,
    prompt_suffix: str = "",
    as_messages: bool = False,
) -> list[Sample]:
    """Another generator's samples (``task`` with ``task_kwargs``) under a new data source, reward or
    prompt form.

    ``data_source`` renames the source (and prefixes ids with it), so that one task can appear as
    several sources of a mix with per-source metrics. ``verifier`` (with ``params``) changes the reward
    into a ``combined`` spec: the task's own verifier at ``truth_weight`` plus ``verifier`` at ``weight``.
    With ``truth_weight`` 0 (the default) the truth pays nothing but still supplies ``correct``, so
    accuracy is logged honestly: the Spurious Rewards controls (``random``, ``contains``, ...) on a
    synthetic task. With ``truth_weight`` 1 the new verifier adds a term, e.g. DAPO's ``length`` penalty.
    ``prompt_suffix`` is appended to a text prompt; ``as_messages`` sends it as one user message (for
    chat models).
    """
    out = []
    for s in generate(task, size, seed, **(task_kwargs or {})):
        reward = s.reward
        if verifier is not None:
            components = [
                {"verifier": s.reward.verifier, "weight": truth_weight, "params": s.reward.params},
                {"verifier": verifier, "weight": weight, "params": dict(params or {})},
            ]
            reward = RewardSpec(
                "combined", s.reward.ground_truth, {"components": components}, s.reward.weight
            )
        prompt, messages = s.prompt, s.messages
        if prompt is not None:
            prompt += prompt_suffix
            if as_messages:
                messages = [{"role": "user", "content": prompt}]
                prompt = None
        out.append(
            replace(
                s,
                id=f"{data_source}/{s.id}" if data_source else s.id,
                prompt=prompt,
                messages=messages,
                data_source=data_source or s.data_source,
                reward=reward,
            )
        )
    return out


_IF_TOPICS = ("the sea", "a quiet city", "autumn rain", "a small robot", "morning coffee", "old trains")
_IF_FORMS = ("a short poem", "a product description", "a tiny story", "a piece of advice", "a diary entry")
_IF_WORDS = ("light", "river", "stone", "window", "garden", "signal", "paper", "music")
_IF_PHRASES = ("that is all", "thank you for reading", "the end")


def _instruction_case(rng: random.Random) -> tuple[str | None, str, str]:
    """(case constraint type or None, instruction, how to transform the text)."""
    return rng.choice(
        [
            (None, "", "keep"),
            ("lowercase", "Use only lowercase letters.", "lower"),
            ("uppercase", "Write everything in capital letters.", "upper"),
        ]
    )


@GENERATORS.register("instruction_following")
def instruction_following(size: int, seed: int, split: str = "train") -> list[Sample]:
    """``Write a short poem about the sea. Use the word 'river' at least 2 times. End your response with
    'the end'.``: 2-4 checkable constraints per prompt, scored by the ``constraints`` verifier (fraction
    met; ``correct`` = all met). Each sample's ``response`` is a reference that meets every constraint."""
    rng = random.Random(seed)
    samples = []
    for i in range(size):
        topic, form = rng.choice(_IF_TOPICS), rng.choice(_IF_FORMS)
        case, case_text, transform = _instruction_case(rng)
        word, banned = rng.sample(_IF_WORDS, 2)
        count = rng.randint(1, 3)
        lines = [f"here is {form} about {topic}", *[f"the {word} stays" for _ in range(count)]]
        constraints: list[dict[str, Any]] = [{"type": "include_word", "word": word, "count": count}]
        text = [f"Use the word '{word}' at least {count} time{'s' if count > 1 else ''}."]
        if rng.random() < 0.5:
            constraints.append({"type": "exclude_word", "word": banned})
            text.append(f"Do not use the word '{banned}'.")
        shape = rng.choice(["bullets", "ends_with", "starts_with", "quoted", "no_commas"])
        if shape == "bullets":
            n = len(lines)
            constraints.append({"type": "bullets", "n": n})
            text.append(f"Format it as exactly {n} bullet points, each line starting with '* '.")
            body = "\n".join(f"* {line}" for line in lines)
        else:
            body = " and ".join(lines) + "."
        body = {"lower": body.lower(), "upper": body.upper()}.get(transform, body)
        if shape in ("ends_with", "starts_with"):
            phrase = rng.choice(_IF_PHRASES)
            phrase = {"lower": phrase.lower(), "upper": phrase.upper()}.get(transform, phrase)
            constraints.append({"type": shape, "text": phrase})
            where = "End" if shape == "ends_with" else "Start"
            text.append(f"{where} your response with the exact phrase '{phrase}'.")
            body = f"{body} {phrase}" if shape == "ends_with" else f"{phrase} {body}"
        elif shape == "quoted":
            constraints.append({"type": "quoted"})
            text.append("Wrap your entire response in double quotation marks.")
            body = f'"{body}"'
        elif shape == "no_commas":
            constraints.append({"type": "no_commas"})
            text.append("Do not use any commas.")
        if case is not None:
            constraints.append({"type": case})
            text.append(case_text)
        limit = len(body.split()) + rng.randint(5, 30)
        constraints.append({"type": "max_words", "n": limit})
        text.append(f"Use at most {limit} words.")
        samples.append(
            Sample(
                id=f"instruction_following-{split}-{seed}-{i}",
                prompt=f"Write {form} about {topic}. " + " ".join(text) + "\n",
                data_source="instruction_following",
                reward=RewardSpec(verifier="constraints", ground_truth=constraints),
                response=body,
            )
        )
    return samples


@GENERATORS.register("guess_number")
def guess_number(
    size: int,
    seed: int,
    high: int = 8,
    max_turns: int = 4,
    chat: bool = False,
    hint_range: bool = False,
    shaping: float = 0.0,
    split: str = "train",
) -> list[Sample]:
    """Episodes of the ``guess_number`` environment (``rlvr.envs``): find a secret in 1..high within
    ``max_turns`` guesses from higher / lower feedback. The environment scores them, not a verifier."""
    rng = random.Random(seed)
    samples = []
    for i in range(size):
        secret = rng.randint(1, high)
        first = f"guess 1-{high}"
        samples.append(
            Sample(
                id=f"guess_number-{split}-{seed}-{i}",
                prompt=None if chat else first + "\n",
                messages=[{"role": "user", "content": first}] if chat else None,
                data_source="guess_number",
                reward=RewardSpec(verifier="env", ground_truth=secret),
                metadata={"secret": secret},
                env=EnvSpec(
                    "guess_number",
                    {"high": high, "chat": chat, "hint_range": hint_range, "shaping": shaping},
                    max_turns,
                ),
            )
        )
    return samples


@GENERATORS.register("guess_number_sft")
def guess_number_sft(
    size: int,
    seed: int,
    high: int = 8,
    max_turns: int = 4,
    informed: float = 0.0,
    hint_range: bool = False,
    split: str = "train",
) -> list[Sample]:
    """SFT rows for ``guess_number`` (raw text): a game so far as the prompt, the next guess (and its
    newline) as the response. A guess is uniform in 1..high, or, with probability ``informed``, uniform
    in the range the feedback so far leaves open: a warm start that knows the format, not the strategy."""
    rng = random.Random(seed)
    samples = []
    for i in range(size):
        secret, low, top = rng.randint(1, high), 1, high
        text = f"guess 1-{high}\n"
        for _ in range(rng.randrange(max_turns)):  # the turns already played
            guess = rng.randint(low, top) if rng.random() < informed else rng.randint(1, high)
            if guess == secret:
                break
            low, top = (max(low, guess + 1), top) if guess < secret else (low, min(top, guess - 1))
            said = "higher" if guess < secret else "lower"
            text += f"{guess}\n{said} {low}-{top}\n" if hint_range else f"{guess}\n{said}\n"
        guess = rng.randint(low, top) if rng.random() < informed else rng.randint(1, high)
        samples.append(
            Sample(
                id=f"guess_number_sft-{split}-{seed}-{i}",
                prompt=text,
                data_source="guess_number",
                response=f"{guess}\n",
            )
        )
    return samples
