"""The loop with fake in-memory roles: no model, no Ray. ``RLTrainer(cfg, roles)`` drives any objects that
satisfy the protocols of ``rlvr.training.protocols``; this checks exactly what it hands each of them."""

from collections.abc import Sequence
from pathlib import Path

import torch

from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import Completion, SamplingParams
from rlvr.tracking.logger import read_metrics
from rlvr.training.protocols import Roles
from rlvr.training.trainer import RLTrainer

from .helpers import tiny_recipe


class FakeLearner:
    def __init__(self) -> None:
        self.batches: list[tuple[int, list[float], list[int]]] = []
        self.saved: list[str] = []
        self.closed = False

    def train_on(self, batch, scores, group_index) -> dict[str, float]:
        self.batches.append((batch.size, scores.tolist(), group_index.tolist()))
        return {"train/pg_loss": float(len(self.batches))}

    def nonfinite_streak(self) -> int:
        return 0

    def weights(self) -> dict[str, torch.Tensor]:
        return {"w": torch.tensor([float(len(self.batches))])}

    def reset_reference(self) -> None:
        raise AssertionError("no reference reset was configured")

    def save_checkpoint(self, run_dir: Path, state, keep_last: int, with_reference: bool) -> Path:
        self.saved.append(f"checkpoint step {state.step}")
        return run_dir / "checkpoints" / f"step-{state.step}"

    def restore(self, ckpt) -> None:
        raise AssertionError("nothing to resume")

    def save(self, path: Path) -> Path:
        self.saved.append(path.name)
        return path

    def close(self) -> None:
        self.closed = True


class FakeRollout:
    """Completion j of a prompt ``sort ddd=`` is the sorted digits when j is even, else ``000``."""

    shares_learner_model = False

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.synced: list[tuple[float, int]] = []
        self.seed = 0
        self.closed = False

    def generate_chunks(self, prompts: list[list[int]], params: SamplingParams):
        completions = []
        for p, ids in enumerate(prompts):
            digits = self.tokenizer.decode(ids, skip_special_tokens=True).split(" ")[-1].rstrip("=")
            for j in range(params.n):
                text = "".join(sorted(digits)) if j % 2 == 0 else "000"
                tokens = self.tokenizer(text, add_special_tokens=False)["input_ids"]
                completions.append(Completion(p, tokens, [-0.5] * len(tokens), text, "stop", ids, j))
        yield (
            completions,
            {"gen_s": 0.25, "tokens": float(sum(len(c.token_ids) for c in completions)), "version": 0.0},
        )

    def generate(self, prompts, params):
        return [c for chunk, _ in self.generate_chunks(prompts, params) for c in chunk]

    def sync(self, weights, version: int) -> float:
        self.synced.append((float(weights["w"]), version))
        return 0.0

    def generator_states(self) -> list[int]:
        return [self.seed]

    def set_generator_states(self, states: Sequence[int]) -> None:
        self.seed = states[0]

    def seed_generators(self, seed: int) -> None:
        self.seed = seed

    def close(self) -> None:
        self.closed = True


class FakeReward:
    """1 for an exact match of the ground truth, else 0."""

    def __init__(self) -> None:
        self.scored = 0
        self.closed = False

    def score(self, requests: Sequence[ScoreRequest]) -> list[RewardResult]:
        self.scored += len(requests)
        return [
            RewardResult(
                float(r.completion == r.spec.ground_truth), correct=r.completion == r.spec.ground_truth
            )
            for r in requests
        ]

    def close(self) -> None:
        self.closed = True


def test_the_loop_runs_on_fake_roles(tmp_path):
    cfg = tiny_recipe(tmp_path, "trainer.steps=2", "trainer.prompts_per_step=3", "rollout.n=2", "eval.n=2")
    from rlvr.models.load import load_tokenizer

    learner, rollout, reward = FakeLearner(), FakeRollout(load_tokenizer(cfg.model)), FakeReward()
    trainer = RLTrainer(cfg, Roles(learner, rollout, reward), show_progress=False)
    final = trainer.fit()
    trainer.close()

    # each step: 3 prompts x 2 completions; even completions are right; group = prompt
    assert learner.batches == [(6, [1.0, 0.0] * 3, [0, 0, 1, 1, 2, 2])] * 2
    # the start, then after each update: the learner's weights (its update count) with the version
    assert rollout.synced == [(0.0, 0), (1.0, 1), (2.0, 2)]
    assert reward.scored == 2 * 6 + 16 * 2  # two training batches, then 16 eval problems x 2 samples
    assert final["eval/all/accuracy"] == 0.5 and final["eval/all/pass@1"] == 0.5
    assert learner.saved == ["checkpoint step 2", "final"]
    rows = [r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "train/pg_loss" in r]
    assert [r["train/pg_loss"] for r in rows] == [1.0, 2.0]
    assert [r["reward/all/reward_mean"] for r in rows] == [0.5, 0.5]
    assert learner.closed and rollout.closed and reward.closed


def test_the_trainer_closes_the_roles_it_was_handed_when_its_set_up_fails(tmp_path):
    import pytest

    from rlvr.models.load import load_tokenizer
    from rlvr.training.checkpoint import ResumeError

    cfg = tiny_recipe(tmp_path, f"trainer.resume={tmp_path / 'no-such-run'}")
    learner, rollout, reward = FakeLearner(), FakeRollout(load_tokenizer(cfg.model)), FakeReward()
    with pytest.raises(ResumeError, match="no such run or checkpoint directory"):
        RLTrainer(cfg, Roles(learner, rollout, reward), show_progress=False)
    assert learner.closed and rollout.closed and reward.closed
