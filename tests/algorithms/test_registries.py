"""Every built-in piece is registered on import; unknown names list the known ones."""

import pytest

from rlvr.algorithms import ADVANTAGES, KL_ESTIMATORS, LOSS_AGGREGATIONS, POLICY_LOSSES, AlgorithmConfig, kl
from rlvr.registry import UnknownNameError


def test_builtin_names():
    assert ADVANTAGES.names() == ["dr_grpo", "gae", "grpo", "reinforce", "reinforce_pp", "rloo"]
    assert POLICY_LOSSES.names() == ["ppo_clip", "vanilla_pg"]
    assert KL_ESTIMATORS.names() == ["k1", "k2", "k3"]
    assert LOSS_AGGREGATIONS.names() == [
        "seq_mean_token_mean",
        "seq_mean_token_sum",
        "seq_mean_token_sum_norm",
        "token_mean",
    ]


def test_config_defaults_are_registered():
    cfg = AlgorithmConfig()
    assert cfg.advantage in ADVANTAGES and cfg.policy_loss in POLICY_LOSSES
    assert cfg.kl_estimator in KL_ESTIMATORS and cfg.loss_agg in LOSS_AGGREGATIONS
    assert cfg.clip_diag_prob_threshold == 0.8 and cfg.tis_cap is None


def test_unknown_name_lists_known_ones():
    with pytest.raises(
        UnknownNameError, match="unknown advantage estimator 'grpoo'; known: dr_grpo, gae, grpo"
    ):
        ADVANTAGES.get("grpoo")
    with pytest.raises(UnknownNameError, match="k1, k2, k3"):
        kl.kl_penalty(None, None, "k4")


def test_module_attr_path():
    assert KL_ESTIMATORS.get("rlvr.algorithms.kl:k3") is kl.k3
