"""What rlvr needs to know about a vision-language model: its vision inputs, positions and image tokens.

A VLM prompt is its token ids (the processor has already expanded each image into its image tokens)
plus :class:`VisionInputs`, the processor's other outputs for that prompt (``pixel_values`` and the
family's extras: ``image_grid_thw`` for Qwen2-VL / Qwen2.5-VL, ``pixel_attention_mask`` for Idefics3).
They are made once per prompt and shared, as one object, by the n completions of its group.

Positions are the model's own. LLaVA and Idefics3 number tokens 1-D like a text model. Qwen2-VL and
Qwen2.5-VL use 3-D M-RoPE: an image's tokens get (temporal, height, width) positions from
``get_rope_index``, and text after it continues from the largest position + 1, so a row's text positions
are its 1-D positions plus a per-row ``delta`` (``max position + 1 - length``)::

    prompt    (3, U, P) = get_rope_index(ids, image tokens, image_grid_thw, mask)
    response  (3, B, R) = 1-D positions (B, R) + delta (B, 1), the same in all three dims

Image tokens that the policy itself emits are replaced by the pad token wherever the model reads its
own output (the engine's decode steps, the learner's response columns): a forward with pixel values
counts the image tokens in ``input_ids`` and fails ("Image features and image tokens do not match")
when the policy added some (V-Triune's fix). Their log-probs are still those of the emitted ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

# the modules of each family's vision tower and connector (Qwen's merger lives inside ``visual``)
VISION_MODULES = ("visual", "vision_tower", "multi_modal_projector", "vision_model", "connector")
# processor outputs that are not vision inputs (the ids travel as the prompt; the rest is rebuilt)
TEXT_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")
# per-prompt tensors whose dim 0 is the prompt and dim 1 the image (Idefics3): padded over images
PROMPT_MAJOR = ("pixel_attention_mask",)
_PROCESSOR_ATTR = "rlvr_processor"


@dataclass(frozen=True, eq=False)
class VisionInputs:
    """One prompt's vision inputs: the processor's tensors besides the token ids (empty: no image)."""

    tensors: dict[str, Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> VisionInputs:
        return VisionInputs({k: v.to(device) for k, v in self.tensors.items()})


@dataclass(frozen=True, eq=False)
class VisionBatch:
    """The vision inputs of a token batch: row b shows ``prompts[owner[b]]`` (rows of a group share one)."""

    owner: Tensor  # (B,) long
    prompts: list[VisionInputs]

    @classmethod
    def of(cls, visions: Sequence[VisionInputs | None]) -> VisionBatch | None:
        """One row per entry (None or empty: a row without images); rows holding the same object share
        it. None when no row has images."""
        if not any(v is not None and v.tensors for v in visions):
            return None
        index: dict[int, int] = {}
        prompts: list[VisionInputs] = []
        owner = []
        for v in visions:
            v = v if v is not None else VisionInputs()
            if id(v) not in index:
                index[id(v)] = len(prompts)
                prompts.append(v)
            owner.append(index[id(v)])
        return cls(torch.tensor(owner, dtype=torch.long), prompts)

    def select(self, index: Tensor | slice) -> VisionBatch:
        return VisionBatch(self.owner[index], self.prompts)

    def to(self, device: torch.device | str) -> VisionBatch:
        """Only the owner index moves: the forward moves the few prompts it runs."""
        return VisionBatch(self.owner.to(device), self.prompts)


def attach_processor(tokenizer: Any, processor: Any) -> Any:
    """Give ``tokenizer`` its VLM ``processor`` (what :func:`processor_of` reads back); returns it. Prompt
    encoding then runs samples with images through the processor (``rlvr.rollout.vision_prompts``)."""
    setattr(tokenizer, _PROCESSOR_ATTR, processor)
    return tokenizer


def processor_of(tokenizer: Any) -> Any:
    """The VLM processor attached to ``tokenizer``, or None (a text model)."""
    return getattr(tokenizer, _PROCESSOR_ATTR, None)


def is_vlm(model: torch.nn.Module) -> bool:
    """Whether ``model`` (or the model a peft wrapper holds) has a vision config."""
    config = getattr(model, "config", None)
    return getattr(config, "vision_config", None) is not None


def _config(model: torch.nn.Module) -> Any:
    return model.config


def image_token_ids(model: torch.nn.Module) -> list[int]:
    """The ids a forward with pixel values replaces by image features (image and video tokens)."""
    config = _config(model)
    ids = [getattr(config, name, None) for name in ("image_token_id", "image_token_index", "video_token_id")]
    return sorted({int(i) for i in ids if i is not None})


def replacement_id(model: torch.nn.Module) -> int:
    """What an emitted image token is read as: the text model's pad token (else its eos, else 0)."""
    config = _config(model)
    for cfg in (getattr(config, "text_config", None), config):
        for name in ("pad_token_id", "eos_token_id"):
            value = getattr(cfg, name, None)
            if isinstance(value, list):
                value = value[0] if value else None
            if value is not None:
                return int(value)
    return 0


def replace_image_tokens(ids: Tensor, image_ids: Sequence[int], replacement: int) -> Tensor:
    """``ids`` (any shape) with every id in ``image_ids`` replaced by ``replacement`` (a new tensor)."""
    if not image_ids:
        return ids
    hit = torch.isin(ids, torch.tensor(list(image_ids), device=ids.device))
    return torch.where(hit, torch.full_like(ids, replacement), ids)


def rope_module(model: torch.nn.Module) -> Any:
    """The module with ``get_rope_index`` (Qwen2-VL / Qwen2.5-VL: 3-D M-RoPE), or None (1-D positions).
    Looked for through ``.model`` / ``.base_model`` (a ForConditionalGeneration, a peft wrapper)."""
    m: Any = model
    for _ in range(5):
        if m is None or hasattr(m, "get_rope_index"):
            return m
        m = getattr(m, "model", None) or getattr(m, "base_model", None)
    return None


def mrope_positions(
    model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor | None, vision: dict[str, Tensor]
) -> tuple[Tensor, Tensor] | None:
    """3-D positions (3, U, P) and deltas (U,) of (U, P) left-padded prompts from the model's own
    ``get_rope_index``; None for a model with 1-D positions. ``vision`` is the batch's vision inputs."""
    rope = rope_module(model)
    if rope is None:
        return None
    image_ids = torch.tensor(image_token_ids(model)[:1] or [-1], device=input_ids.device)
    token_type = torch.isin(input_ids, image_ids).int()  # (U, P) 1 on image tokens
    grid = vision.get("image_grid_thw")
    positions, delta = rope.get_rope_index(
        input_ids, token_type, image_grid_thw=grid, attention_mask=attention_mask
    )
    return positions, delta.reshape(-1)


def batch_vision(inputs: Sequence[VisionInputs]) -> dict[str, Tensor]:
    """The vision inputs of several prompts as one forward's keyword arguments.

    Image-major tensors (Qwen's patches (N, D) and ``image_grid_thw`` (n, 3), LLaVA's images (n, 3, H, W))
    are concatenated; prompt-major ones (Idefics3's (1, n, 3, H, W) images and their
    ``pixel_attention_mask``) are zero-padded to the most images of a prompt first (Idefics3 skips
    all-zero images), and a prompt without images gets all-zero rows.
    """
    keys = list(dict.fromkeys(k for v in inputs for k in v.tensors))
    out: dict[str, Tensor] = {}
    for key in keys:
        parts = [v.tensors.get(key) for v in inputs]
        present = [p for p in parts if p is not None]
        if _prompt_major(key, present[0]):
            n = max(p.size(1) for p in present)
            like = present[0]
            padded = [
                like.new_zeros((1, n, *like.shape[2:])) if p is None else F.pad(p, _pad_dim1(p, n))
                for p in parts
            ]
            out[key] = torch.cat(padded)
        else:
            out[key] = torch.cat(present)
    return out


def _prompt_major(key: str, t: Tensor) -> bool:
    return key in PROMPT_MAJOR or (key == "pixel_values" and t.dim() == 5)


def _pad_dim1(t: Tensor, n: int) -> tuple[int, ...]:
    """F.pad widths that grow dim 1 of ``t`` to ``n`` (at its end)."""
    return (0, 0) * (t.dim() - 2) + (0, n - t.size(1))


def freeze_vision(model: torch.nn.Module) -> list[str]:
    """Freeze the vision tower and connector (V-Triune: training them jointly collapsed); returns the
    names of the frozen modules."""
    inner = getattr(model, "model", model)
    frozen = []
    for name in VISION_MODULES:
        module = getattr(inner, name, None)
        if isinstance(module, torch.nn.Module):
            module.requires_grad_(False)
            frozen.append(name)
    return frozen
