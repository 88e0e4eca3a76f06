"""The vLLM engine's multimodal path, against a FAKE vLLM (vLLM is not installed here): a VisionPrompt's
images go to vLLM as ``multi_modal_data`` with its (already expanded) token ids, and each completion
carries the prompt's vision inputs for the learner. Whether real vLLM keeps HF-expanded image tokens as
they are is NOT checked here (docs/vision.md)."""

from __future__ import annotations

import types
from typing import Any

import torch

from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.rollout.vllm_engine import VLLMEngine

from .helpers import samples, tiny_vlm


class FakeVLLM:
    """Stands in for the ``vllm`` module and its ``LLM``: records the requests, answers two tokens each."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    @staticmethod
    def TokensPrompt(**kw: Any) -> dict[str, Any]:  # noqa: N802 (vLLM's name)
        return dict(kw)

    @staticmethod
    def SamplingParams(**kw: Any) -> types.SimpleNamespace:  # noqa: N802 (vLLM's name)
        return types.SimpleNamespace(**kw)

    def generate(self, requests: list[dict[str, Any]], sampling: list[Any], use_tqdm: bool) -> list[Any]:
        self.requests.extend(requests)
        step = {7: types.SimpleNamespace(logprob=-0.5), 8: types.SimpleNamespace(logprob=-0.25)}
        out = types.SimpleNamespace(token_ids=[7, 8], logprobs=[step, step], finish_reason="stop")
        return [types.SimpleNamespace(outputs=[out]) for _ in requests]


def fake_engine(tokenizer: Any, fake: FakeVLLM) -> VLLMEngine:
    engine = object.__new__(VLLMEngine)  # no vLLM to start: only what generation reads
    engine.tokenizer, engine.generator = tokenizer, torch.Generator().manual_seed(0)
    engine._warned_truncation, engine._vllm, engine.llm = False, fake, fake
    return engine


def test_images_go_to_vllm_as_multi_modal_data():
    _, tok = tiny_vlm("qwen2_5_vl")
    prompts = encode_prompts(tok, samples())
    fake = FakeVLLM()
    completions = fake_engine(tok, fake).generate(prompts, SamplingParams(n=2, max_new_tokens=4))
    assert len(fake.requests) == 6
    first = fake.requests[0]
    assert first["prompt_token_ids"] == list(prompts[0])
    (image,) = first["multi_modal_data"]["image"]
    assert image.size == (56, 56) and image.getpixel((10, 10)) == (220, 30, 30)  # the sample's own picture
    assert completions[0].vision is completions[1].vision is prompts[0].vision  # type: ignore[attr-defined]
    assert completions[0].token_ids == [7, 8] and completions[0].logprobs == [-0.5, -0.25]


def test_text_prompts_have_no_multi_modal_data():
    _, tok = tiny_vlm("llava")
    fake = FakeVLLM()
    completions = fake_engine(tok, fake).generate([[5, 6, 7]], SamplingParams(n=1))
    assert fake.requests == [{"prompt_token_ids": [5, 6, 7]}] and completions[0].vision is None
