import pytest
import torch

from rlvr.training.reference_reset import ReferenceResetConfig, ResetPolicy, copy_into_reference


def test_periodic_reset():
    policy = ResetPolicy(ReferenceResetConfig(every=3))
    fired = [s for s in range(1, 10) if policy.observe(s, {})]
    assert fired == [3, 6, 9]


def test_plateau_reset_after_patience_and_state_round_trip():
    cfg = ReferenceResetConfig(metric="eval/acc", patience=2, min_delta=0.01)
    policy = ResetPolicy(cfg)
    seq = [0.5, 0.6, 0.605, 0.6, 0.7, 0.69, 0.695]
    fired = []
    for step, v in enumerate(seq, 1):
        if step == 4:  # a resumed run continues where the checkpoint left off
            clone = ResetPolicy(cfg)
            clone.load_state_dict(policy.state_dict())
            policy = clone
        if policy.observe(step, {"eval/acc": v}):
            fired.append(step)
    # 0.605 and 0.6 do not beat 0.6 by 0.01 -> reset at step 4; then 0.7 is the new best, 0.69 / 0.695 stale
    assert fired == [4, 7]
    assert policy.observe(8, {"train/other": 1.0}) is None  # steps without the metric do not count


def test_copy_into_reference():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    copy_into_reference(a, b)
    assert torch.equal(a.weight, b.weight)
    with pytest.raises(ValueError, match="kl_coef > 0"):
        copy_into_reference(a, None)
    with pytest.raises(ValueError, match="not supported with LoRA"):
        copy_into_reference(a, "adapter")
