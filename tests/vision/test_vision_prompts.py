"""Prompts with images through a VLM's processor: chat rows, plain rows, text rows, and pickling."""

from __future__ import annotations

import pickle

from rlvr.data.images import IMAGE_PLACEHOLDER, ImageRef
from rlvr.data.sample import RewardSpec, Sample
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import Completion
from rlvr.rollout.vision_prompts import VisionPrompt, render_vision_text
from rlvr.training.batch import collate

from .helpers import samples, scene, tiny_vlm

QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


def test_chat_rows_get_the_image_text_in_the_template():
    _, tok = tiny_vlm("qwen2_5_vl")
    processor = tok.rlvr_processor
    image = ImageRef(pil=scene(56, (220, 30, 30), (2, 2, 20, 20)))
    spec = RewardSpec("exact_match", "x")
    chat = Sample(id="c", messages=[{"role": "user", "content": "what?"}], reward=spec, images=[image])
    assert render_vision_text(processor, chat) == f"U:{QWEN_IMAGE}what?\nA:"  # tiny template: U:...\nA:
    placed = Sample(id="p", prompt=f"look {IMAGE_PLACEHOLDER} here", reward=spec, images=[image])
    assert render_vision_text(processor, placed) == f"look {QWEN_IMAGE} here"
    text = Sample(id="t", prompt="no image", reward=spec)
    ids = encode_prompts(tok, [chat, text])
    assert isinstance(ids[0], VisionPrompt) and ids[0].count(tok.convert_tokens_to_ids("<|image_pad|>")) == 4
    assert type(ids[1]) is list and tok.decode(ids[1]) == "no image"


def test_vision_prompts_pickle_and_groups_stay_shared():
    _, tok = tiny_vlm("llava")
    prompt = encode_prompts(tok, samples()[:1])[0]
    assert isinstance(prompt, VisionPrompt)
    rows = [
        Completion(
            prompt_index=0,
            token_ids=[5],
            logprobs=[0.0],
            text="",
            finish_reason="stop",
            prompt_ids=list(prompt),
            vision=prompt.vision,
        )
        for _ in range(3)
    ]
    back_prompt, back_rows = pickle.loads(pickle.dumps((prompt, rows)))  # what Ray does to a call's data
    assert back_prompt == prompt and back_prompt.images[0].size == (56, 56)
    assert back_rows[0].vision is back_rows[2].vision is back_prompt.vision
    batch = collate(back_rows, tok.pad_token_id)
    assert batch.vision is not None and batch.vision.owner.tolist() == [0, 0, 0]
