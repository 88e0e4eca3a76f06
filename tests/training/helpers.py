"""Shared pieces of the training tests: a tiny recipe and a deliberately easy verifier."""

from rlvr.config import RunConfig, load_config
from rlvr.distributed.placement import build_roles, local_learner, local_rollout
from rlvr.rewards.types import RewardResult
from rlvr.training.trainer import RLTrainer

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "max_positions": 32}


def starts_with_seven(completion: str, ground_truth, **_) -> RewardResult:
    """1 when the completion starts with '7': a random policy hits it about 1% of the time."""
    hit = completion.startswith("7")
    return RewardResult(float(hit), correct=hit)


def tiny_recipe(tmp_path, *overrides: str) -> RunConfig:
    base = [
        f"trainer.output_dir={tmp_path}",
        f"model.tiny={TINY}",
        "data.train=[{type: synthetic, generator: digit_sort, size: 64, seed: 1, kwargs: {num_digits: 3}}]",
        "data.eval=[{type: synthetic, generator: digit_sort, size: 16, seed: 2, kwargs: {num_digits: 3, split: eval}}]",
        "rollout.n=8",
        "rollout.max_new_tokens=4",
        "trainer.prompts_per_step=8",
        "trainer.steps=2",
        "optim.lr=1e-3",
    ]
    return load_config(None, base + list(overrides))


def digit_fraction(completion: str, ground_truth, **_) -> RewardResult:
    """Fraction of the completion's characters that are digits: varied even for a random policy."""
    return RewardResult(sum(c.isdigit() for c in completion) / max(len(completion), 1), correct=None)


def use_verifier(trainer, name: str) -> None:
    """Score every training sample with tests.training.helpers:<name>."""
    for s in trainer.train_samples:
        s.reward.verifier = f"tests.training.helpers:{name}"


def make_trainer(cfg: RunConfig, **kwargs) -> RLTrainer:
    """An RLTrainer handed the roles that ``build_roles`` makes for ``cfg``, as the CLI builds it."""
    return RLTrainer(cfg, build_roles(cfg), **kwargs)


def model_of(trainer):
    """The policy model of a local run's learner."""
    return local_learner(trainer.roles).model


def learner_of(trainer):
    """The Learner (optimizer, reference, loss) of a local run."""
    return local_learner(trainer.roles).learner


def engine_of(trainer):
    """The rollout engine of a local run's first rollout worker."""
    return local_rollout(trainer.roles).engine
