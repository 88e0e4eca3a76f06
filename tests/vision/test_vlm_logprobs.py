"""VLMs in the hf engine and the learner: the learner's log-probs with images equal the engine's.

Each family generates 3 completions of 3 prompts (different lengths: left padding; two image sizes for
Qwen: two grids), then the learner recomputes the completions' log-probs. The models run in float64,
so the measured gap is the method's (the engine stores float32 log-probs: ~1e-6 is its rounding).
"""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from rlvr.models.tiny_vlm import FAMILIES
from rlvr.models.vlm import freeze_vision, image_token_ids
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.rollout.vlm_generate import VisionEngine
from rlvr.training import vlm_forward
from rlvr.training.batch import collate

from .helpers import learner, samples, tiny_vlm

GAP = 1e-4  # the target for the generation / learner gap


def rollouts(family: str, n: int = 3, max_new_tokens: int = 12, temperature: float = 1.0, seed: int = 1):
    model, tok = tiny_vlm(family)
    prompts = encode_prompts(tok, samples())
    engine = VisionEngine(model, tok, max_batch_size=64, seed=seed)
    params = SamplingParams(n=n, temperature=temperature, max_new_tokens=max_new_tokens)
    completions = engine.generate(prompts, params)
    return model, tok, prompts, completions, collate(completions, tok.pad_token_id)


def gap(logprobs: torch.Tensor, batch) -> float:
    return float(((logprobs - batch.behaviour_logprobs).abs() * batch.response_mask).max())


@pytest.mark.parametrize("family", FAMILIES)
def test_learner_logprobs_match_generation_with_images(family):
    model, _, prompts, completions, batch = rollouts(family)
    assert all(p.vision.tensors["pixel_values"].numel() > 0 for p in prompts)  # type: ignore[attr-defined]
    # one VisionInputs object per prompt, shared by its group, and the batch's owner index says whose
    assert completions[0].vision is completions[2].vision is prompts[0].vision  # type: ignore[attr-defined]
    assert completions[3].vision is not completions[0].vision
    assert batch.vision is not None and batch.vision.owner.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    measured = gap(learner(model).logprobs(batch), batch)
    in_micro_batches = gap(learner(model, micro_batch_size=2).logprobs(batch), batch)
    print(f"\n{family}: max |generation - learner| log-prob gap with images = {measured:.2e}")
    assert measured < GAP and in_micro_batches < GAP


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_mrope_positions_matter(family):
    """With rlvr's 1-D positions, a Qwen VLM's log-probs are off by far more than with its own M-RoPE."""
    model, _, _, _, batch = rollouts(family)
    own = gap(learner(model).logprobs(batch), batch)
    with mock.patch.object(vlm_forward, "mrope_positions", lambda *a, **k: None):
        one_d = gap(learner(model).logprobs(batch), batch)
    print(f"\n{family}: gap with M-RoPE {own:.2e}, with 1-D positions {one_d:.2e}")
    assert one_d > 5e-5 and one_d > 20 * own


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava"])
def test_positions_are_the_models_own(family):
    """The learner's log-probs equal those of the model's own forward, which derives its positions itself
    (Qwen: ``get_rope_index`` inside ``forward``), on one unpadded prompt + response."""
    model, _, prompts, completions, batch = rollouts(family)
    image_ids = image_token_ids(model)
    row = next(i for i, c in enumerate(completions[:3]) if not set(c.token_ids) & set(image_ids))
    c = completions[row]  # one the plain forward accepts: no emitted image token
    ids = torch.tensor([list(prompts[0]) + c.token_ids])  # (1, P + R)
    vision = dict(prompts[0].vision.tensors)  # type: ignore[attr-defined]
    extra = {"mm_token_type_ids": torch.isin(ids, torch.tensor(image_ids)).int()}
    with torch.no_grad():
        logits = model(input_ids=ids, **vision, **(extra if "qwen" in family else {})).logits[0]
    P, R = len(prompts[0]), len(c.token_ids)
    own = torch.log_softmax(logits[P - 1 : P + R - 1], -1).gather(-1, torch.tensor(c.token_ids)[:, None])[
        :, 0
    ]
    ours = learner(model).logprobs(batch)[row, :R]
    assert torch.allclose(ours, own.float(), atol=1e-5), (ours - own).abs().max()


def test_emitted_image_tokens_are_replaced():
    """Hot sampling makes the policy emit image tokens: a plain forward with pixel values then fails, and
    the learner (which reads them as the pad token, as the engine fed them back) still matches."""
    model, _, prompts, completions, batch = rollouts("qwen2_vl", n=4, max_new_tokens=24, temperature=3.0)
    image_ids = torch.tensor(image_token_ids(model))
    P = batch.prompt_width
    emitted = torch.isin(batch.input_ids[:, P:], image_ids) & (batch.response_mask > 0)
    assert int(emitted.sum()) >= 1  # seeded: the policy did emit some
    row = int(emitted.any(-1).nonzero()[0])
    c = completions[row]
    ids = torch.tensor([list(prompts[c.prompt_index]) + c.token_ids])
    vision = dict(prompts[c.prompt_index].vision.tensors)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="Image features and image tokens do not match"):
        model(input_ids=ids, mm_token_type_ids=torch.isin(ids, image_ids).int(), **vision)
    assert gap(learner(model, temperature=3.0).logprobs(batch), batch) < GAP


def test_without_a_cache_every_row_runs_whole():
    """Activation checkpointing drops the cache: the rows then run whole, with the same log-probs."""
    model, _, _, _, batch = rollouts("qwen2_5_vl")
    model.gradient_checkpointing_enable()
    assert gap(learner(model).logprobs(batch), batch) < GAP


@pytest.mark.parametrize("frozen", [True, False])
def test_update_trains_the_vision_tower_only_when_not_frozen(frozen):
    model, _, _, _, batch = rollouts("llava")
    if frozen:
        assert freeze_vision(model) == ["vision_tower", "multi_modal_projector"]
    before = {k: v.clone() for k, v in model.named_parameters()}
    adv = torch.linspace(-1, 1, batch.size)[:, None].expand_as(batch.response_mask).contiguous()
    learner(model).update(batch, adv, None, None)
    changed = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    vision = {k for k in changed if "vision_tower" in k or "multi_modal_projector" in k}
    assert any("language_model" in k for k in changed)
    assert (not vision) if frozen else vision
