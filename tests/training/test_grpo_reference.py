"""scripts/grpo_reference.py, the readable loop, against the real one: the same loss and gradient on one
batch, and the script itself runs end to end (slow)."""

import copy
import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.types import Completion
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


def _batch(seed: int = 0):
    """3 prompts x 4 completions of 1, 3 or 5 random tokens (lengths vary, so the loss is not 0)."""
    rng = random.Random(seed)
    completions = []
    for i in range(3):
        prompt = [rng.randrange(4, 90) for _ in range(rng.choice([3, 6]))]
        for k in range(4):
            tokens = [rng.randrange(4, 90) for _ in range(rng.choice([1, 3, 5]))]
            completions.append(Completion(i, tokens, [-1.0] * len(tokens), "", "stop", prompt, k))
    return collate(completions, pad_id=0)


@pytest.mark.parametrize("skip_zero_advantage", [True, False])
def test_the_reference_loss_and_gradient_equal_the_learners_on_one_batch(tmp_path, skip_zero_advantage):
    reference = _script()
    torch.manual_seed(0)
    tok = build_tokenizer()
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, max_positions=32),
        tok,
    )
    batch = _batch()
    # group 0 mixed, group 1 all equal (zero advantage: the learner may skip it), group 2 mixed
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 1.0, 1.0])
    group = torch.tensor([0] * 4 + [1] * 4 + [2] * 4)

    script_model = copy.deepcopy(model)
    expected, _ = reference.grpo_loss(script_model, batch, scores, group, temperature=1.0)
    expected.backward()
    cfg = tiny_recipe(
        tmp_path,
        *SCRIPT_ALGO,
        "algorithm.loss_agg=token_mean",
        "rollout.temperature=1.0",
        "optim.max_grad_norm=null",  # the learner's gradient stays as computed (no clipping)
        f"trainer.skip_zero_advantage={str(skip_zero_advantage).lower()}",
    )
    metrics = LearnerRole(cfg, model=model, tokenizer=tok).train_on(batch, scores, group)

    loss = expected.item()
    assert abs(loss) > 1e-3
    assert metrics["train/pg_loss"] == pytest.approx(loss, rel=1e-5)
    for (name, a), b in zip(model.named_parameters(), script_model.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7, msg=name)
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
