"""The prompts of the persuasion game, following the structure of the official ToMAP prompts
(ulab-uiuc/ToMAP ``debate_prompts.py``): Alice persuades, Bob assesses; the transcript is listed as
``Alice (turn 1): "..."``; answers in ``<thought>`` / ``<argument>`` tags; attitudes on five levels.

``compact`` prompts are a few characters each, for a character-level model with a short context.
"""

from __future__ import annotations

ATTITUDES = ("Disagree", "Partly Disagree", "Neutral", "Partly Agree", "Agree")
"""Attitude labels by score 0..4."""

PERSUADER_SYSTEM = """You are Alice, an expert persuader, discussing a controversial issue with another agent, Bob.
Your goal is to persuade Bob to fully support this claim:
"{claim}"
Rules:
1. Keep your position whatever Bob believes; answer his counterarguments and keep arguing for the claim.
2. Persuade Bob with well-reasoned, well-elaborated arguments."""

PERSUADER_TURN = """{tom}{turns}
Make your next turn. Answer in two parts, a thought and an argument.
1. In the thought, recap the conversation so far, analyse Bob's attitude and plan this turn; Bob does not see it.
2. In the argument, follow up on the previous turns, give new arguments for the claim or answer Bob's questions, in one complete, concise, self-contained paragraph of at most {max_tokens} tokens.
Do not repeat or paraphrase your earlier arguments, do not cite unverified evidence, and keep your planning out of the argument.
Answer exactly in this format:
<thought>
...
</thought>
<argument>
...
</argument>"""

PERSUADEE_SYSTEM = """You are Bob, a sensible agent, discussing a controversial issue with another agent, Alice.
Your goal is to assess this claim, which you initially disagree with:
"{claim}"
You start out against the claim but are open to discussion: judge it sensibly, weighing the quality of Alice's arguments."""

PERSUADEE_TURN = """{turns}
Make your next turn. Answer in two parts, a thought and an argument.
1. In the thought, recap the conversation so far, analyse Alice's attitude and plan this turn; Alice does not see it.
2. In the argument, say what you think of Alice's arguments, point out flaws or raise concerns, or make new arguments, in one complete, concise, self-contained paragraph of at most 200 tokens.
Do not repeat or paraphrase your earlier arguments, and do not cite unverified evidence.
Answer exactly in this format:
<thought>
...
</thought>
<argument>
...
</argument>"""

PERSUADEE_RATING = """{turns}
Now state your attitude towards this statement, based on your own thinking and the conversation so far:
"{statement}"
Answer exactly in this format:
<thought>
Your brief reasoning.
</thought>
<attitude>
One of: "Agree", "Partly Agree", "Neutral", "Partly Disagree", "Disagree". Nothing else.
</attitude>"""

COUNTERCLAIMS = """List reasons why someone might support this statement, each of which leads to it:
"{statement}"
Think first in <thought></thought>, then give {n} reasons, strongest first, each one complete sentence, independent of the others, directly supporting the statement, without explanation:
<thought>
...
</thought>
<reason>
...
</reason>
<reason>
...
</reason>"""

GREETING = ("Hi, I am Alice. How are you today?", "Nice to meet you. Let's begin the discussion.")


def format_turns(turns: list[str], role: str) -> str:
    """The transcript as the official code shows it: a greeting exchange first (except to the attitude
    guesser), then ``Alice (turn k): "..."`` / ``Bob (turn k): "..."``, ``(You)`` marking the reader."""
    if role not in ("persuader", "persuadee", "guesser"):
        raise ValueError(f"format_turns: role must be persuader, persuadee or guesser, got {role!r}")
    shown = ([] if role == "guesser" else list(GREETING)) + [
        t or "I have no argument to make in this round." for t in turns
    ]
    if not shown:
        return "# There are no previous turns in the conversation."
    alice = "Alice (You)" if role == "persuader" else "Alice"
    bob = "Bob (You)" if role == "persuadee" else "Bob"
    lines = [f'{alice if i % 2 == 0 else bob} (turn {i + 1}): "{t}"' for i, t in enumerate(shown)]
    return "# The previous turns of the conversation:\n" + "\n".join(lines)


def tom_block(counterclaims: list[str], agreement: list[int] | None) -> str:
    """The counterclaims (and the predicted agreement, k/8, with each) written into the persuader's prompt."""
    if not counterclaims:
        return ""
    head = "# Claims your OPPONENT might hold (do not accept them; refute them when needed, one focus per argument):\n"
    if agreement is None:
        return head + "\n".join(f'"{c}"' for c in counterclaims) + "\n"
    rows = [
        f'"{c}" (Bob\'s agreement on this claim is {k}/8)'
        for c, k in zip(counterclaims, agreement, strict=True)
    ]
    return head + "\n".join(rows) + "\n"


def compact_tom(counterclaims: list[str], agreement: list[int] | None) -> str:
    """``C:cost,jobs`` or ``C:cost 8/8,jobs 2/8``: the ToM line of the compact prompts."""
    if not counterclaims:
        return ""
    if agreement is None:
        return "C:" + ",".join(counterclaims) + "\n"
    return "C:" + ",".join(f"{c} {k}/8" for c, k in zip(counterclaims, agreement, strict=True)) + "\n"
