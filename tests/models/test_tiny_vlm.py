"""Tiny VLMs of four families: build locally (no download, no torchvision), save, reload, forward with an image."""

from __future__ import annotations

import pytest

from rlvr.models.tiny_vlm import FAMILIES, build_tiny_vlm, image_prompt, load_tiny_vlm, save_tiny_vlm

# image tokens after expansion: Qwen 28x28..56x56 -> grid (1, 4, 4) / merge 2x2 = 4; LLaVA 2x2 patches = 4;
# Idefics3 4 patches pixel-shuffled by 2 = 1 (+ its <fake_token_around_image>/<global-img> wrapping)
IMAGE_TOKENS = {"qwen2_vl": 4, "qwen2_5_vl": 4, "llava": 4, "idefics3": 1}


@pytest.mark.parametrize("family", FAMILIES)
def test_builds_saves_reloads_and_runs_with_an_image(tmp_path, family):
    import torch
    from PIL import Image

    model, processor = build_tiny_vlm(family)
    image = Image.new("RGB", (56, 56), (255, 0, 0))
    text = image_prompt(family) + "what?"
    images = [[image]] if family == "idefics3" else [image]
    inputs = processor(text=[text], images=images, return_tensors="pt")
    image_id = model.config.image_token_id
    assert int((inputs["input_ids"] == image_id).sum()) == IMAGE_TOKENS[family]
    with torch.no_grad():
        logits = model(**inputs).logits  # (1, T, V)
    assert logits.shape == (1, inputs["input_ids"].shape[1], len(processor.tokenizer))
    assert torch.isfinite(logits).all()

    path = save_tiny_vlm(family, tmp_path / family)
    reloaded, proc2 = load_tiny_vlm(path)
    inputs2 = proc2(text=[text], images=images, return_tensors="pt")
    assert torch.equal(inputs2["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        again = reloaded(**inputs2).logits
    assert torch.equal(again, logits)  # same seed, same weights after the round trip
    # another image changes the output: the picture reaches the logits
    other = proc2(
        text=[text],
        images=[[Image.new("RGB", (56, 56), (0, 0, 255))]]
        if family == "idefics3"
        else [Image.new("RGB", (56, 56), (0, 0, 255))],
        return_tensors="pt",
    )
    with torch.no_grad():
        assert not torch.allclose(reloaded(**other).logits[0, -1], again[0, -1])


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: \\['qwen2_vl', 'qwen2_5_vl', 'llava', 'idefics3'\\]"):
        build_tiny_vlm("blip")
