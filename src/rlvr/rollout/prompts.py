"""Turning Samples into prompt token ids: plain text as is, chat messages through the chat template."""

from __future__ import annotations

from rlvr.data.sample import Sample
from rlvr.models.vlm import processor_of


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
    """Token ids of each sample's rendered prompt (no special tokens added beyond the template's).
    With a VLM's processor attached to the tokenizer, samples with images become ``VisionPrompt``s
    (ids plus vision inputs, ``rlvr.rollout.vision_prompts``)."""
    if processor_of(tokenizer) is not None and any(s.images for s in samples):
        return encode_with_images(tokenizer, samples)
    texts = [render_prompt(tokenizer, s) for s in samples]
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def encode_with_images(tokenizer, samples: list[Sample]) -> list[list[int]]:
    """Each sample with images through the VLM's processor, the others as text."""
    from rlvr.rollout.vision_prompts import encode_vision_prompt

    processor = processor_of(tokenizer)
    return [
        encode_vision_prompt(processor, s) if s.images else encode_prompts(tokenizer, [s])[0] for s in samples
    ]
