"""A LoRA critic (``critic.lora``): adapters on a frozen copy of the policy's backbone and a value head;
it learns, checkpoints only what it trains, and a resumed run continues to the same weights."""

import io

import pytest
import torch

from rlvr.config import TrainerConfig
from rlvr.config_lora import LoraConfig
from rlvr.models.load import add_lora
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.tracking.logger import read_metrics
from rlvr.training.checkpoint import read_checkpoint
from rlvr.training.critic import Critic, build_value_model
from rlvr.training.critic_config import CriticConfig

from .helpers import make_trainer, tiny_recipe
from .test_critic import setup
from .test_multiturn_trainer import BASE

LORA = LoraConfig(r=4, alpha=8)


def _frozen_backbone(critic) -> dict[str, torch.Tensor]:
    """The critic backbone's own weights, under the names they have without adapters."""
    state = critic.model.backbone.get_base_model().state_dict()
    return {k.replace(".base_layer", ""): v for k, v in state.items() if "lora_" not in k}


def _lora_critic(policy, lr=1e-2):
    cfg = CriticConfig(lr=lr, lora=LORA)
    return Critic(
        build_value_model(policy, cfg), cfg, TrainerConfig(micro_batch_size=2, seed=0), total_steps=50
    )


def test_only_the_adapters_and_the_head_train_and_the_backbone_is_the_policys():
    policy, _, batch, returns = setup()
    critic = _lora_critic(policy)
    trainable = {k for k, p in critic.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in k or k.startswith("head.") for k in trainable)
    assert set(critic.weights()) == trainable  # the checkpoint holds what trains, not the frozen backbone
    backbone = _frozen_backbone(critic)
    assert backbone.keys() == policy.model.state_dict().keys()
    for k, v in policy.model.state_dict().items():  # a copy of the policy's starting backbone
        assert torch.equal(backbone[k], v), k
    frozen = {k: v.clone() for k, v in critic.model.state_dict().items() if k not in trainable}
    losses = [critic.update(batch, returns, critic.values(batch))["critic/value_loss"] for _ in range(30)]
    assert losses[-1] < 0.2 * losses[0]
    assert all(torch.equal(critic.model.state_dict()[k], v) for k, v in frozen.items())


def test_a_lora_critic_restores_exactly_and_refuses_a_full_critics_weights():
    policy, _, batch, returns = setup()
    a = _lora_critic(policy)
    for _ in range(3):
        a.update(batch, returns, a.values(batch))
    buffer = io.BytesIO()
    torch.save(a.training_state(), buffer)
    buffer.seek(0)
    weights, state = a.weights(), torch.load(buffer, weights_only=True)
    b = _lora_critic(policy)
    b.load(weights, state)
    for critic in (a, b):
        critic.update(batch, returns, critic.values(batch))
    for (k, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(x, y), k
    _, full, _, _ = setup()
    with pytest.raises(ValueError, match="does not fit critic.lora: missing .*lora_A"):
        b.load(full.weights(), full.training_state())


def test_a_lora_policys_critic_copies_its_base_model():
    tok = build_tokenizer()
    base = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2), tok
    )
    expected = {k: v.clone() for k, v in base.model.state_dict().items()}
    policy = add_lora(base, LORA, "CAUSAL_LM")
    critic = _lora_critic(policy)
    backbone = _frozen_backbone(critic)  # the base weights: the policy's own adapter is not copied
    assert backbone.keys() == expected.keys()
    assert all(torch.equal(backbone[k], v) for k, v in expected.items())


PPO = [
    *BASE,
    "data.eval=[]",
    "trainer.steps=3",
    "trainer.save_every=1",
    "trainer.ppo_epochs=2",
    "trainer.mini_batch_size=8",
    "model.num_threads=1",
    "algorithm.advantage=gae",
    "algorithm.lam=0.95",
    "critic={lr: 1e-2, warmup_steps: 1, lora: {r: 4, alpha: 8}}",
    "trainer.seed=2",  # a seed whose first step has a nonzero reward: the zero-initialised head then has a gradient
]


@pytest.mark.parametrize("policy_lora", [False, True], ids=["full_policy", "lora_policy"])
def test_a_multiturn_ppo_run_with_a_lora_critic_resumes_to_the_same_weights(tmp_path, policy_lora):
    extra = ["model.lora={r: 4, alpha: 8}", "optim.lr=1e-2"] if policy_lora else []

    def run(*overrides):
        trainer = make_trainer(tiny_recipe(tmp_path, *PPO, *extra, *overrides), show_progress=False)
        trainer.fit()
        trainer.close()
        return trainer.run_dir

    run_dir = run("trainer.run_name=lora")
    rows = read_metrics(run_dir / "metrics.jsonl")
    assert [r["critic/warmup"] for r in rows] == [1.0, 0.0, 0.0] and all(
        r["critic/grad_norm"] > 0 for r in rows
    )
    full = read_checkpoint(run_dir / "checkpoints" / "step-0003")
    critic = full.state.tensors["critic"]
    assert critic and all("lora_" in k or k.startswith("head.") for k in critic)
    first = read_checkpoint(run_dir / "checkpoints" / "step-0001").state.tensors["critic"]
    assert any(not torch.equal(first[k], critic[k]) for k in critic if "lora_B" in k), "the adapters learn"
    assert full.adapter == policy_lora

    run("trainer.run_name=lora", f"trainer.resume={run_dir / 'checkpoints' / 'step-0002'}")
    resumed = read_checkpoint(run_dir / "checkpoints" / "step-0003")
    for a, b in [(resumed.weights, full.weights), (resumed.state.tensors["critic"], critic)]:
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
