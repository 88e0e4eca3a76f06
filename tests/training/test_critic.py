"""The critic: value alignment, learning from returns, and an exact checkpoint round trip."""

import io

import torch

from rlvr.config import TrainerConfig
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rollout.types import Completion
from rlvr.training.batch import collate
from rlvr.training.critic import Critic, build_value_model, value_metrics
from rlvr.training.critic_config import CriticConfig


def setup(lr=1e-2, clip=None):
    tok = build_tokenizer()
    policy = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2), tok
    )
    cfg = CriticConfig(lr=lr, value_clip=clip)
    critic = Critic(
        build_value_model(policy, cfg), cfg, TrainerConfig(micro_batch_size=2, seed=0), total_steps=50
    )
    rows = [
        Completion(0, [5, 6, 7, 8], [-1.0] * 4, "", "stop", [3, 4], loss_mask=[1, 0, 0, 1]),
        Completion(1, [9, 10], [-1.0] * 2, "", "stop", [3, 4, 11]),
        Completion(2, [12, 13, 14], [-1.0] * 3, "", "stop", [3]),
    ]
    batch = collate(rows, tok.pad_token_id)
    returns = torch.tensor([[1.0, 0, 0, 1.0], [0.0, 0.0, 0, 0], [0.5, 0.5, 0.5, 0]]) * batch.response_mask
    return policy, critic, batch, returns


def test_values_are_read_before_each_response_token():
    _, critic, batch, _ = setup()
    torch.nn.init.normal_(critic.model.head.weight)
    full = critic.model(batch.input_ids, batch.attention_mask, batch.position_ids)  # (B, P+R)
    P = batch.prompt_width
    expected = full[:, P - 1 : P - 1 + batch.response_width].detach() * batch.response_mask
    torch.testing.assert_close(critic.values(batch), expected)
    assert torch.all(critic.values(batch)[batch.response_mask == 0] == 0)


def test_the_critic_learns_the_returns_and_its_optimizer_is_its_own():
    policy, critic, batch, returns = setup()
    before = [p.detach().clone() for p in policy.parameters()]
    first = value_metrics(critic.values(batch), returns, batch.response_mask)
    losses = [critic.update(batch, returns, critic.values(batch))["critic/value_loss"] for _ in range(30)]
    after = value_metrics(critic.values(batch), returns, batch.response_mask)
    assert losses[-1] < 0.1 * losses[0]
    assert first["critic/explained_variance"] < 0.05 < 0.9 < after["critic/explained_variance"]
    assert all(
        torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True)
    )  # policy untouched


def test_value_clipping_bounds_the_move_and_is_counted():
    _, critic, batch, returns = setup(lr=1e-1, clip=0.01)
    old = critic.values(batch)
    m = critic.update(batch, returns * 10, old)
    assert m["critic/vf_clipfrac"] == 0.0  # the first step starts at the old values: nothing clipped yet
    m = critic.update(batch, returns * 10, old)
    assert 0 < m["critic/vf_clipfrac"] <= 1


def test_checkpoint_state_restores_the_critic_exactly():
    _, a, batch, returns = setup()
    for _ in range(3):
        a.update(batch, returns, a.values(batch))
    buffer = io.BytesIO()  # through bytes, as a checkpoint on disk
    torch.save(a.training_state(), buffer)
    buffer.seek(0)
    weights, state = a.weights(), torch.load(buffer, weights_only=True)
    _, b, _, _ = setup()
    b.load(weights, state)
    for critic in (a, b):
        critic.update(batch, returns, critic.values(batch))
    for (k, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(x, y), k
    assert a.scheduler.last_epoch == b.scheduler.last_epoch == 4
