"""scripts/grpo_reference.py, the readable loop, against the real one: the same loss on one batch, and the
script itself runs end to end (slow)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlvr.data import generate
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.training.batch import collate
from rlvr.training.roles import LearnerRole

from .helpers import tiny_recipe

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "grpo_reference.py"
SCRIPT_ALGO = ["algorithm.advantage=grpo", "algorithm.eps_low=0.2", "algorithm.eps_high=0.28"]


def _script():
    spec = importlib.util.spec_from_file_location("grpo_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only; main() runs under __main__
    return module


@pytest.mark.parametrize("skip_zero_advantage", [True, False])
def test_the_reference_loss_equals_the_learners_on_one_batch(tmp_path, skip_zero_advantage):
    reference = _script()
    torch.manual_seed(0)
    tok = build_tokenizer()
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, max_positions=32),
        tok,
    )
    samples = generate("digit_sort", size=3, seed=2, num_digits=3)
    engine = HFEngine(model, tok, max_batch_size=64, seed=0)
    completions = engine.generate(encode_prompts(tok, samples), SamplingParams(n=4, max_new_tokens=5))
    batch = collate(completions, tok.pad_token_id)
    # group 0 mixed, group 1 all equal (zero advantage: the learner may skip it), group 2 mixed
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 1.0, 1.0])
    group = torch.tensor([c.prompt_index for c in completions])
    assert group.tolist() == [0] * 4 + [1] * 4 + [2] * 4

    expected, _ = reference.grpo_loss(model, batch, scores, group, temperature=1.0)
    cfg = tiny_recipe(
        tmp_path,
        *SCRIPT_ALGO,
        "algorithm.loss_agg=token_mean",
        "rollout.temperature=1.0",
        f"trainer.skip_zero_advantage={str(skip_zero_advantage).lower()}",
    )
    metrics = LearnerRole(cfg, model=model, tokenizer=tok).train_on(batch, scores, group)
    loss = expected.item()
    assert loss != 0.0
    assert metrics["train/pg_loss"] == pytest.approx(loss, rel=1e-5, abs=1e-7)
    # the learner left group 1's four rows out of its passes, or trained every row
    assert metrics.get("filter/zero_advantage/removed") == (4.0 if skip_zero_advantage else None)


@pytest.mark.slow
def test_the_reference_script_runs_end_to_end():
    out = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--sft-steps",
            "3",
            "--rl-steps",
            "3",
            "--prompts",
            "4",
            "--eval-size",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["before SFT", "after SFT", "after RL"]
