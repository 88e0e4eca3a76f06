"""Token in, token out: each turn's observation appended to a trajectory as token ids.

Re-rendering the whole chat every turn and tokenizing it again gives ids the policy never sampled (BPE
merges across a turn boundary, a template that trims or rewrites earlier turns, a newline lost after an
end-of-turn token). Here the ids the engine sampled are kept as they are, and only what follows them is
rendered: the rest of the template's end of the assistant turn, the observation messages, and the next
generation prompt, all exactly as the chat template writes them.

For a template that only ever appends (Qwen2.5, Llama 3), the ids of a whole episode equal the
tokenized canonical rendering of the conversation. Where the template rewrites history (Qwen3 drops the
``<think>`` block of earlier assistant turns once a new user turn follows), no appended ids can match
it; the renderer then starts a new training row whose prompt is the canonical rendering of the whole
conversation so far (prime-rl's best-effort interleaving), and the episode runner counts it.

Raw-text episodes (an environment that returns text, not messages) append the observation's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

Messages = list[dict[str, str]]

# An assistant message whose text the template renders verbatim, to find where the content ends.
PLACEHOLDER = "rlvr-tito-placeholder-7f3a"


@dataclass
class Continuation:
    """What comes after a turn's generated ids.

    ``new_row`` False: ``ids`` are appended to the trajectory's current row (observation tokens).
    ``new_row`` True: the template rewrote history; ``ids`` are the whole prompt of a new row.
    """

    ids: list[int]
    new_row: bool = False


class TurnRenderer:
    """The token state of one trajectory's conversation.

    ``first`` is the environment's first observation: chat messages (rendered with the chat template) or
    raw text (tokenized as is). :meth:`prompt_ids` gives the first prompt; :meth:`continue_after` the ids
    that follow each turn.
    """

    def __init__(self, tokenizer, first: Messages | str) -> None:
        self.tokenizer = tokenizer
        self.chat = isinstance(first, list)
        self.messages: Messages = [dict(m) for m in first] if isinstance(first, list) else []
        self._first_text = first if isinstance(first, str) else ""
        if self.chat and getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("the environment returned chat messages but the tokenizer has no chat template")

    def prompt_ids(self) -> list[int]:
        """Token ids of the first prompt (ending with the generation prompt for chat)."""
        if not self.chat:
            return self._encode(self._first_text)
        return self._encode(self._render(self.messages, generation_prompt=True))

    def continue_after(self, generated: list[int], action: str, observation: Messages | str) -> Continuation:
        """The ids that follow a turn: ``generated`` are its sampled ids, ``action`` their text (special
        tokens skipped), ``observation`` what the environment answered."""
        if not self.chat:
            if not isinstance(observation, str):
                raise TypeError("a raw-text episode got chat messages as an observation; return text")
            return Continuation(self._encode(observation))
        if not isinstance(observation, list):
            raise TypeError(
                f"a chat episode got {type(observation).__name__} as an observation; return messages"
            )
        before = self.messages
        self.messages = [*before, {"role": "assistant", "content": action}, *(dict(m) for m in observation)]
        closed = self._render([*before, {"role": "assistant", "content": action}], generation_prompt=False)
        full = self._render(self.messages, generation_prompt=True)
        if not full.startswith(closed):  # the template rewrites history: a new row, canonically rendered
            return Continuation(self._encode(full), new_row=True)
        return Continuation(self._encode(self._unfinished_close(before, generated) + full[len(closed) :]))

    def _unfinished_close(self, before: Messages, generated: list[int]) -> str:
        """The template's end of the assistant turn (``<|im_end|>\\n``, ``<|eot_id|>``) less what the
        engine already generated of it (the end-of-turn token it stopped on)."""
        with_placeholder = self._render([*before, {"role": "assistant", "content": PLACEHOLDER}], False)
        close = with_placeholder[with_placeholder.rindex(PLACEHOLDER) + len(PLACEHOLDER) :]
        specials = set(getattr(self.tokenizer, "all_special_ids", []))
        for k in range(min(len(generated), 4), 0, -1):  # the longest tail of generated ids that opens close
            tail = generated[-k:]
            text = self.tokenizer.decode(tail, skip_special_tokens=False)
            if text and close.startswith(text) and (text == close or any(t in specials for t in tail)):
                return close[len(text) :]
        return close

    def _render(self, messages: Messages, generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
