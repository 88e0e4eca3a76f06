"""Perception weights files: the supervised control writes them, ``policy.init_perception`` reads them."""

import pytest
import torch

from rlvr.embodied.config import ImageNavConfig
from rlvr.embodied.policies import build_policy
from rlvr.embodied.train import init_perception
from rlvr.embodied.weights import load_perception, save_perception

SHAPE = {"arch": "channelcat", "width": 4, "feat_dim": 8, "obs_size": 16}


def _cfg(path, arch="channelcat", obs_size=16):
    return ImageNavConfig.model_validate(
        {
            "env": {"obs_size": obs_size},
            "policy": {"arch": arch, "width": 4, "feat_dim": 8, "hidden": 8, "init_perception": str(path)},
        }
    )


def test_init_perception_starts_the_policy_from_the_saved_module(tmp_path):
    torch.manual_seed(0)
    source = build_policy("channelcat", 4, 8, 8, 16).perception
    path = save_perception(source, tmp_path / "cc.pt", **SHAPE)
    torch.manual_seed(1)
    policy = build_policy("channelcat", 4, 8, 8, 16)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    init_perception(policy, _cfg(path))
    for k, v in source.state_dict().items():
        assert torch.equal(policy.perception.state_dict()[k], v)
    for k, v in policy.state_dict().items():  # the GRU and heads keep their own start
        if not k.startswith("perception."):
            assert torch.equal(v, before[k])


@pytest.mark.parametrize(
    ("arch", "obs_size", "message"),
    [
        ("late_fusion", 16, "arch: file 'channelcat', policy 'late_fusion'"),
        ("channelcat", 32, "obs_size: file 16, policy 32"),
    ],
)
def test_a_file_of_another_shape_is_refused_by_name(tmp_path, arch, obs_size, message):
    path = save_perception(build_policy("channelcat", 4, 8, 8, 16).perception, tmp_path / "cc.pt", **SHAPE)
    policy = build_policy(arch, 4, 8, 8, obs_size)
    with pytest.raises(ValueError, match=message):
        init_perception(policy, _cfg(path, arch, obs_size))


def test_a_training_checkpoint_or_a_missing_file_is_refused(tmp_path):
    module = build_policy("channelcat", 4, 8, 8, 16).perception
    torch.save({"policy": {}}, tmp_path / "latest.pt")
    with pytest.raises(ValueError, match="a training checkpoint: use ppo.init_from"):
        load_perception(module, tmp_path / "latest.pt", **SHAPE)
    torch.save({"policy": {}, "rng": __import__("numpy").random.default_rng(0)}, tmp_path / "full.pt")
    with pytest.raises(ValueError, match="a training checkpoint\\? use ppo.init_from"):
        load_perception(module, tmp_path / "full.pt", **SHAPE)
    with pytest.raises(FileNotFoundError, match="no file"):
        load_perception(module, tmp_path / "nope.pt", **SHAPE)
    with pytest.raises(ValueError, match=r"give \['obs_size'\]"):
        save_perception(module, tmp_path / "x.pt", arch="channelcat", width=4, feat_dim=8)
