"""Turning Samples into prompt token ids: plain text as is, chat messages through the chat template."""

from __future__ import annotations

from rlvr.data.sample import Sample


def render_prompt(tokenizer, sample: Sample) -> str:
    """The exact text the model sees before its completion."""
    if sample.messages is None:
        return sample.prompt or ""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            f"sample {sample.id!r} has chat messages but the tokenizer has no chat template; "
            "give the model a chat template or use plain 'prompt' rows"
        )
    return tokenizer.apply_chat_template(sample.messages, tokenize=False, add_generation_prompt=True)


def encode_prompts(tokenizer, samples: list[Sample]) -> list[list[int]]:
    """Token ids of each sample's rendered prompt (no special tokens added beyond the template's)."""
    texts = [render_prompt(tokenizer, s) for s in samples]
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
