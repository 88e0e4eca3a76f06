"""Prompts with images: a sample's text and images through the VLM's own processor, once per prompt.

A VLM's tokenizer carries its processor (``rlvr.models.vlm.attach_processor``, done when the model loads), so
every caller of :func:`rlvr.rollout.prompts.encode_prompts` (training, evaluation, pseudo-labelling)
encodes a sample with images through it without knowing. The result, a :class:`VisionPrompt`, *is* the
prompt's token ids (a ``list[int]``: the image placeholders expanded into the family's image tokens) and
carries the processor's other outputs as ``.vision``; the engine hands that one object to each of the
n completions of the prompt, and the learner batches it from there.

Where the images go: a chat sample's ``<image>`` placeholders become image content parts for the
processor's chat template (``rlvr.data.images.vision_messages``); a plain-text prompt's ``<image>``
placeholders become the family's image text (``<|vision_start|><|image_pad|><|vision_end|>`` for Qwen,
the processor's image token otherwise), and images without placeholders go first.
"""

from __future__ import annotations

from typing import Any

from rlvr.data.images import IMAGE_PLACEHOLDER, vision_messages
from rlvr.data.sample import Sample
from rlvr.models.vlm import TEXT_KEYS, VisionInputs


class VisionPrompt(list[int]):
    """A prompt's token ids (the list itself), its vision inputs (``.vision``, made once) and its decoded
    images (``.images``, PIL: what the vLLM engine hands vLLM, which runs its own processor)."""

    vision: VisionInputs
    images: list[Any]

    def __init__(self, ids: list[int], vision: VisionInputs, images: list[Any] | None = None) -> None:
        super().__init__(ids)
        self.vision = vision
        self.images = list(images or [])


def image_text(processor: Any) -> str:
    """The text that stands for one image in a plain prompt (the processor expands it)."""
    tok = processor.tokenizer
    token = getattr(processor, "image_token", None) or IMAGE_PLACEHOLDER
    if "<|vision_start|>" in tok.get_vocab():
        return f"<|vision_start|>{token}<|vision_end|>"
    return token


def render_vision_text(processor: Any, sample: Sample) -> str:
    """The prompt text the processor gets: the processor's chat template with image content parts, the
    tokenizer's (a tiny one) with each ``<image>`` as the family's image text, or the plain prompt so."""
    n = len(sample.images)
    if sample.messages is not None:
        if getattr(processor, "chat_template", None):
            messages = vision_messages(sample.messages, n)
            return str(processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        placed = vision_messages(sample.messages, n)  # placeholders at the start when the text has none
        text_messages = [dict(m, content=_joined(m["content"], image_text(processor))) for m in placed]
        return str(
            processor.tokenizer.apply_chat_template(text_messages, tokenize=False, add_generation_prompt=True)
        )
    text = sample.prompt or ""
    if IMAGE_PLACEHOLDER not in text:
        text = IMAGE_PLACEHOLDER * n + text
    return text.replace(IMAGE_PLACEHOLDER, image_text(processor))


def _joined(content: Any, image: str) -> str:
    """Content parts (or a string) as one string, an image part as ``image``."""
    if isinstance(content, str):
        return content
    return "".join(image if part["type"] == "image" else part.get("text", "") for part in content)


def encode_vision_prompt(processor: Any, sample: Sample) -> VisionPrompt:
    """``sample`` through ``processor``: its token ids and vision inputs (see the module doc)."""
    text = render_vision_text(processor, sample)
    images = [ref.load() for ref in sample.images]
    try:
        out = processor(text=[text], images=[images], return_tensors="pt")
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"sample {sample.id!r}: the processor rejected its {len(images)} image(s): {exc}"
        ) from exc
    vision = VisionInputs({k: v for k, v in out.items() if k not in TEXT_KEYS})
    return VisionPrompt(out["input_ids"][0].tolist(), vision, images)
