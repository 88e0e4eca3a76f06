"""rlvr.rollout.graphed_steps: the decode step that reads only its own buffers (what a CUDA graph replays)
gives FastSteps' logits and the engine's samples. On the CPU ``tests/rollout/aten_graph.AtenGraph`` stands
in for the capture: it records the step's aten operators once and replays them on the same tensors with no
Python, so a step that read a changing host value would replay a stale one, and one that read a device
value on the host would fail to record, as a CUDA graph capture would."""

import pytest
import torch

import rlvr.rollout.graphed_steps as graphed_steps
import rlvr.rollout.hf_engine as hf_engine
from rlvr.models.fast_decoder import FastDecoder, StaticKVBuffers
from rlvr.models.tiny import build_tokenizer
from rlvr.rollout.decode_steps import FastSteps, positions_from_mask
from rlvr.rollout.graphed_steps import GraphedSteps
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.types import SamplingParams
from tests.models.test_fast_decoder import _left_padded, _model
from tests.rollout.aten_graph import AtenGraph


@pytest.fixture(autouse=True)
def recorded_graphs(monkeypatch):
    """Off CUDA, GraphedSteps makes an ``EagerStepGraph``: record and replay instead (see the docstring)."""
    monkeypatch.setattr(graphed_steps, "EagerStepGraph", AtenGraph)


PADDED = [[5, 6, 7, 8, 9], [11, 12], [13, 14, 15]]
SAME_LENGTH = [[5, 6, 7], [11, 12, 13], [14, 15, 16]]


def _decode_both(model, prompts: list[list[int]], T: int, drop_at: int | None):
    """Step by step, FastSteps' and GraphedSteps' logits for the same greedy tokens (FastSteps' argmax),
    rows 1 and 3 of 5 dropped before step ``drop_at``."""
    ids, mask = _left_padded(prompts)
    prompt_mask = None if bool(mask.all()) else mask
    owner = torch.tensor([0, 0, 1, 2, 2])
    capacity = ids.size(1) + T
    fast, graphed = FastSteps(model), GraphedSteps(model)
    positions = positions_from_mask(mask)
    pairs = [
        (
            fast.prefill(ids, positions, prompt_mask, owner, capacity),
            graphed.prefill(ids, positions, prompt_mask, owner, capacity),
        )
    ]
    next_pos, tokens = mask.sum(-1)[owner], pairs[0][0].argmax(-1)
    for t in range(T - 1):
        if t == drop_at:
            keep = torch.tensor([0, 2, 4])
            fast.keep(keep)
            graphed.keep(keep)
            next_pos, tokens = next_pos[keep], tokens[keep]
        want = fast.decode(tokens, next_pos + t)
        got = graphed.decode(tokens, next_pos + t)
        pairs.append((want, got.clone()))  # a CUDA graph overwrites its output at the next replay
        tokens = want.argmax(-1)
    return pairs


@pytest.mark.parametrize("family", ["llama", "qwen3"])
@pytest.mark.parametrize("prompts", [PADDED, SAME_LENGTH], ids=["padded", "same-length"])
@pytest.mark.parametrize("drop_at", [None, 0, 3], ids=["no-drop", "drop-first", "drop-mid"])
def test_the_static_step_gives_fast_steps_logits(family, prompts, drop_at):
    """Prefill equal bit for bit; each decode step to float rounding (the masked, not yet written positions
    have weight exactly 0; only the kernel's sum over a longer row may round differently)."""
    pairs = _decode_both(_model(family), prompts, T=7, drop_at=drop_at)
    assert torch.equal(*pairs[0])
    for t, (want, got) in enumerate(pairs[1:]):
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4, msg=f"step {t}")
        assert torch.equal(got.argmax(-1), want.argmax(-1)), t


def test_a_bfloat16_model_on_the_cpu_keeps_a_float32_static_cache():
    pairs = _decode_both(_model("llama").to(torch.bfloat16), PADDED, T=5, drop_at=2)
    for want, got in pairs[1:]:
        torch.testing.assert_close(got.float(), want.float(), atol=1e-2, rtol=1e-2)


def test_replays_read_the_inputs_copied_into_the_graphs_own_buffers(monkeypatch):
    """The step is made once per batch (the capture) and replayed with no arguments: it must read the
    tokens and positions the decode copied in, not the ones it was made with."""
    made: list[AtenGraph] = []

    class Counting(AtenGraph):
        def __init__(self, step, pool=None):
            made.append(self)
            super().__init__(step, pool)

    monkeypatch.setattr(graphed_steps, "EagerStepGraph", Counting)
    pairs = _decode_both(_model("llama"), PADDED, T=6, drop_at=2)
    assert len(made) == 2  # the first decode step, and the first after rows were dropped
    for want, got in pairs[1:]:
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)


def test_the_unwritten_positions_are_zero_and_masked():
    """Made from a prefilled cache: past the fill level the buffers are zeros (finite: a masked key times a
    weight of 0 adds nothing; leftover memory could be NaN), and the counter is the fill level."""
    model = _model("llama")
    decoder = FastDecoder(model)
    cache = decoder.new_cache(2, 9)
    for buffer in (*cache.keys, *cache.values):
        buffer.fill_(float("nan"))
    ids = torch.tensor([[5, 6, 7], [8, 9, 10]])
    decoder(ids, positions_from_mask(torch.ones_like(ids)), cache)
    static = StaticKVBuffers.of(cache)
    assert static.at.tolist() == [3] and static.capacity == 9
    for buffer in (*static.keys, *static.values):
        assert torch.isfinite(buffer).all() and not buffer[:, :, 3:].any()
    steps = GraphedSteps(model)
    steps.prefill(ids, positions_from_mask(torch.ones_like(ids)), None, torch.tensor([0, 1]), 9)
    assert steps.bias is not None and steps.bias.shape == (1, 1, 1, 9)  # no padding: one row for all
    assert not steps.bias[..., :3].any() and (steps.bias[..., 3:] < -1e30).all()
    steps.decode(torch.tensor([1, 2]), torch.tensor([3, 3]))
    assert steps.cache is not None and steps.cache.at.tolist() == [4]
    assert not steps.bias[..., :4].any() and (steps.bias[..., 4:] < -1e30).all()


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_engine_samples_the_same_with_graphed_steps(monkeypatch, temperature):
    """``cuda_graphs`` with the capture recorded and replayed on the CPU: the same tokens as without it
    (left padding, stop strings, rows dropped whenever half have finished, several chunks)."""
    tok = build_tokenizer()
    model = _model("llama", vocab=len(tok))
    prompts = [tok.encode(t, add_special_tokens=False) for t in ["sort 31=", "a", "sort 98765=", "xy"]]
    params = SamplingParams(n=3, temperature=temperature, max_new_tokens=12, stop=["5"])
    made: list[GraphedSteps] = []

    class Recorded(GraphedSteps):
        def __init__(self, model):
            made.append(self)
            super().__init__(model)

    plain = HFEngine(model, tok, max_batch_size=7, seed=3).generate(prompts, params)
    monkeypatch.setattr(hf_engine, "graphs_run_on", lambda device: True)
    monkeypatch.setattr(hf_engine, "GraphedSteps", Recorded)
    graphed = HFEngine(model, tok, max_batch_size=7, seed=3, cuda_graphs=True).generate(prompts, params)
    assert len(made) == 2  # 12 completions in chunks of 7
    assert [c.token_ids for c in graphed] == [c.token_ids for c in plain]
    assert [c.finish_reason for c in graphed] == [c.finish_reason for c in plain]
    assert {c.finish_reason for c in plain} == {"stop", "length"} or temperature == 0.0
    for a, b in zip(graphed, plain, strict=True):
        torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=0)


def test_off_cuda_the_switch_changes_nothing(monkeypatch):
    """On the CPU ``cuda_graphs`` keeps FastSteps (a graph captures only CUDA work)."""
    tok = build_tokenizer()
    model = _model("llama", vocab=len(tok))
    engine = HFEngine(model, tok, cuda_graphs=True)
    assert type(engine._steps(16, torch.device("cpu"))) is FastSteps
    monkeypatch.setattr(hf_engine, "graphs_run_on", lambda device: True)
    assert type(engine._steps(16, torch.device("cpu"))) is GraphedSteps
    slow = HFEngine(model, tok, fast_decoder=False, cuda_graphs=True)
    assert type(slow._steps(16, torch.device("cpu"))) is hf_engine.TransformersSteps
