"""The LM persuadee: any chat model, prompted as in the official ToMAP code, its stance read from ratings.

Its stance: it rates claim Q and its negation on the five attitudes (0 Disagree .. 4 Agree) given the
dialogue so far, and S = 0.5 + (s(Q) - s(not Q)) / 8 (the official ``get_score``). A model is a
:data:`Chat` function (a batch of message lists -> a batch of replies): ``hf`` (a transformers model,
greedy), ``openai`` (any OpenAI-compatible endpoint: vLLM, SGLang, a hosted model), or your own
``module:attr``.

A rating whose label cannot be read is ``malformed``: ``disagree`` scores it 0, as the official code
does, ``neutral`` scores it 2, ``error`` raises (the episode runner then masks the trajectory out of the
loss). Every malformed rating is counted in ``malformed``, which the environment reports.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rlvr.envs.chat import Chat, Messages, openai_chat
from rlvr.envs.tomap.prompts import PERSUADEE_RATING, PERSUADEE_SYSTEM, PERSUADEE_TURN, format_turns
from rlvr.envs.tomap.topics import Topic
from rlvr.registry import Registry, build_once

CHATS: Registry[Callable[..., Chat]] = Registry("tomap chat model")
_CHAT_CACHE: dict[str, Chat] = {}

_LABELS = (("partly disagree", 1), ("partly agree", 3), ("disagree", 0), ("agree", 4), ("neutral", 2))
MALFORMED = ("disagree", "neutral", "error")


def extract_tag(text: str, tag: str) -> str | None:
    """The last non-empty ``<tag>...</tag>`` of ``text``; an unclosed last ``<tag>...`` counts; else None."""
    found = [m.strip() for m in re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL) if m.strip()]
    if not found:
        found = [m.strip() for m in re.findall(rf"<{tag}>(.*)$", text, re.DOTALL) if m.strip()]
    return found[-1] if found else None


def parse_attitude(text: str) -> int | None:
    """0..4 from a rating reply (inside ``<attitude>`` when present), or None when no single label is there.

    "Partly Agree" is 3, not 4; "Disagree" is 0, not "agree"; a lone digit 0-4 counts; two different
    labels (``Agree or Disagree``) are ambiguous: None."""
    body = (extract_tag(text, "attitude") or text).strip().strip('".').lower()
    if re.fullmatch(r"[0-4]", body):
        return int(body)
    seen: list[int] = []
    rest = body
    for (
        label,
        score,
    ) in _LABELS:  # longest labels first, removed once matched, so prefixes do not double count
        if label in rest:
            seen.append(score)
            rest = rest.replace(label, " ")
    return seen[0] if len(set(seen)) == 1 else None


def stance_from_ratings(s_claim: int, s_negation: int) -> float:
    """S = 0.5 + (s(Q) - s(not Q)) / 8, in [0, 1]."""
    return 0.5 + (s_claim - s_negation) / 8.0


class LMPersuadee:
    """Bob, played by ``chat``. ``malformed``: how an unreadable rating is scored (``disagree`` |
    ``neutral`` | ``error``)."""

    def __init__(self, chat: Chat, malformed: str = "disagree") -> None:
        if malformed not in MALFORMED:
            raise ValueError(f"LM persuadee: malformed must be one of {MALFORMED}, got {malformed!r}")
        self.chat, self.on_malformed = chat, malformed
        self.claim, self.negation = "", ""
        self.turns: list[str] = []
        self.malformed = 0

    def start(self, topic: Topic) -> None:
        self.claim, self.negation, self.turns = topic.claim, topic.negation, []

    def _system(self) -> dict[str, str]:
        return {"role": "system", "content": PERSUADEE_SYSTEM.format(claim=self.claim)}

    def reply(self, argument: str) -> str:
        self.turns.append(argument)
        ask = PERSUADEE_TURN.format(turns=format_turns(self.turns, "persuadee"))
        out = self.chat([[self._system(), {"role": "user", "content": ask}]])[0]
        said = (extract_tag(out, "argument") or "").replace("\n", " ").strip()
        self.turns.append(said)
        return said

    def ratings(self, statements: list[str]) -> list[int]:
        """Bob's attitude 0..4 towards each statement, one chat batch."""
        turns = format_turns(self.turns, "persuadee")
        asks = [
            [self._system(), {"role": "user", "content": PERSUADEE_RATING.format(turns=turns, statement=s)}]
            for s in statements
        ]
        outs = self.chat(asks)
        return [self._score(out, s) for out, s in zip(outs, statements, strict=True)]

    def _score(self, reply: str, statement: str) -> int:
        score = parse_attitude(reply)
        if score is not None:
            return score
        self.malformed += 1
        if self.on_malformed == "error":
            raise ValueError(
                f"LM persuadee: no attitude label in its rating of {statement!r}: {reply[:200]!r}"
            )
        return 0 if self.on_malformed == "disagree" else 2

    def stance(self) -> float:
        s_claim, s_negation = self.ratings([self.claim, self.negation])
        return stance_from_ratings(s_claim, s_negation)

    def attitude(self, statement: str) -> int:
        return self.ratings([statement])[0]


def get_chat(spec: dict[str, Any] | str) -> Chat:
    """The chat model a spec names (``{"name": "hf", "path": ...}``), built once per process."""
    return build_once(CHATS, spec, _CHAT_CACHE)


@CHATS.register("hf")
def hf_chat(path: str, max_new_tokens: int = 512, device: str = "cpu", batch_size: int = 8) -> Chat:
    """Greedy replies from a transformers causal LM with a chat template (left-padded batches)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(path, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(path)
    model = model.to(device).eval()

    def chat(batch: list[Messages]) -> list[str]:
        replies: list[str] = []
        for i in range(0, len(batch), batch_size):
            texts = [
                tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                for m in batch[i : i + batch_size]
            ]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                out = model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            width = enc["input_ids"].shape[1]
            replies += [str(tokenizer.decode(row[width:], skip_special_tokens=True)) for row in out]
        return replies

    return chat


CHATS.register("openai")(openai_chat)
