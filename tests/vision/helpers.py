"""Shared pieces of the VLM tests: tiny models with prompts and images, and a learner around them."""

from __future__ import annotations

from typing import Any

import torch

from rlvr.algorithms import AlgorithmConfig
from rlvr.config import OptimConfig, TrainerConfig
from rlvr.data.images import IMAGE_PLACEHOLDER, ImageRef
from rlvr.data.sample import RewardSpec, Sample
from rlvr.models.tiny_vlm import build_tiny_vlm
from rlvr.models.vlm import attach_processor
from rlvr.training.learner import Learner


def scene(size: int, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> Any:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (255, 255, 255))
    ImageDraw.Draw(image).rectangle(box, fill=colour)
    return image


def samples() -> list[Sample]:
    """Three prompts of different lengths (left padding) and images (two sizes for Qwen: 2 grids)."""
    texts = ["where is it?", "colour?", "count the shapes now"]
    images = [
        scene(56, (220, 30, 30), (2, 2, 20, 20)),
        scene(84, (30, 170, 60), (40, 10, 70, 30)),
        scene(56, (40, 70, 220), (30, 30, 50, 50)),
    ]
    return [
        Sample(
            id=str(i),
            prompt=IMAGE_PLACEHOLDER + text,
            reward=RewardSpec("exact_match", "x"),
            images=[ImageRef(pil=im)],
        )
        for i, (text, im) in enumerate(zip(texts, images, strict=True))
    ]


def tiny_vlm(family: str, seed: int = 0) -> tuple[Any, Any]:
    """The model (float64 so that the measured gaps are the method's, not float32 rounding's) and its
    tokenizer with the processor attached."""
    model, processor = build_tiny_vlm(family, seed)
    return model.double(), attach_processor(processor.tokenizer, processor)


def learner(model: torch.nn.Module, temperature: float = 1.0, **trainer: Any) -> Learner:
    return Learner(
        model,
        AlgorithmConfig(),
        OptimConfig(lr=1e-2),
        TrainerConfig(**trainer),
        total_steps=10,
        temperature=temperature,
        norm_len=16,
    )
