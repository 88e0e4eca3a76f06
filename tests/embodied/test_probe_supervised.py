import math

import pytest
import torch

from rlvr.embodied.probe import pose_errors, pose_features, probe_features, ridge
from rlvr.embodied.supervised import errors, targets_of, train_one


def test_targets_of_bearing_distance_heading():
    rel = torch.tensor([[1.0, 1.0, math.pi / 2], [2.0, 0.0, 0.0]])
    t = targets_of(rel)
    s = math.sqrt(0.5)
    torch.testing.assert_close(t, torch.tensor([[s, s, math.sqrt(2), 1.0, 0.0], [0.0, 1.0, 2.0, 0.0, 1.0]]))


def test_errors_in_degrees_and_metres():
    target = targets_of(torch.tensor([[1.0, 0.0, 0.0]]))
    pred = targets_of(torch.tensor([[1.0, 1.0, math.pi / 3]]))  # bearing off by 45 deg, heading by 60
    e = errors(pred, target)
    assert e["bearing_err_deg"] == pytest.approx(45.0, abs=1e-4)
    assert e["heading_err_deg"] == pytest.approx(60.0, abs=1e-4)
    assert e["distance_err_m"] == pytest.approx(math.sqrt(2) - 1, abs=1e-6)


def test_ridge_recovers_a_linear_map():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g)
    w = torch.tensor([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]])
    y = x @ w + torch.tensor([0.25, -1.0])
    fit = ridge(x, y, lam=1e-8)
    torch.testing.assert_close(fit[:3], w, atol=1e-4, rtol=0)
    torch.testing.assert_close(fit[3], torch.tensor([0.25, -1.0]), atol=1e-4, rtol=0)


def test_probe_on_features_that_contain_the_pose_is_near_exact():
    g = torch.Generator().manual_seed(1)
    rel = torch.rand(400, 3, generator=g) * torch.tensor([3.0, 2.0, 2.0]) - torch.tensor([0.0, 1.0, 1.0])
    feats = torch.cat([pose_features(rel), torch.randn(400, 4, generator=g)], 1)
    out = probe_features(feats, rel)
    assert out["probe_pos_err_m"] < 0.05 and out["probe_heading_err_deg"] < 3.0
    assert pose_errors(pose_features(rel), rel)["pos_err_m"] == pytest.approx(0.0, abs=1e-6)


def test_supervised_training_runs_and_reports_the_constant_floor():
    g = torch.Generator().manual_seed(0)
    pics = torch.randint(0, 255, (32, 2, 16, 16, 3), dtype=torch.uint8, generator=g)
    rel = torch.rand(32, 3, generator=g)
    out = train_one(
        "channelcat", 0, (pics, rel), (pics[:8], rel[:8]), epochs=1, batch=16, width=4, feat_dim=8
    )
    assert out["arch"] == "channelcat" and out["params"] > 0
    assert {"bearing_err_deg", "distance_err_m", "heading_err_deg", "const_bearing_err_deg"} <= set(out)


def test_supervised_training_saves_weights_a_policy_can_start_from(tmp_path):
    from rlvr.embodied.policies import build_policy
    from rlvr.embodied.weights import load_perception

    g = torch.Generator().manual_seed(0)
    pics = torch.randint(0, 255, (32, 2, 16, 16, 3), dtype=torch.uint8, generator=g)
    rel = torch.rand(32, 3, generator=g)
    save = tmp_path / "channelcat_s0.pt"
    train_one(
        "channelcat", 0, (pics, rel), (pics[:8], rel[:8]), epochs=1, batch=16, width=4, feat_dim=8, save=save
    )
    policy = build_policy("channelcat", 4, 8, 8, 16)
    load_perception(policy.perception, save, arch="channelcat", width=4, feat_dim=8, obs_size=16)
    saved = torch.load(save, weights_only=False)["state_dict"]
    assert all(torch.equal(policy.perception.state_dict()[k], v) for k, v in saved.items())
