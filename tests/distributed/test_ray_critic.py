"""PPO with a critic on multi-turn episodes, ``backend: ray``: the critic lives in the learner actor, is
trained there exactly as in the local backend, checkpointed with the policy, and resumed there."""

import pytest
import torch

ray = pytest.importorskip("ray", reason="backend: ray needs Ray: pip install 'rlvr[ray]'")

from rlvr.tracking.logger import read_metrics  # noqa: E402
from rlvr.training.checkpoint import read_checkpoint  # noqa: E402
from tests.training.helpers import make_trainer, tiny_recipe  # noqa: E402
from tests.training.test_multiturn_trainer import BASE  # noqa: E402

pytestmark = pytest.mark.timeout(600)

RAY = ["backend=ray", "ray.num_cpus=2", "ray.init_timeout_s=300"]
PPO = [
    *BASE,
    "data.eval=[]",
    "trainer.steps=3",
    "trainer.save_every=1",
    "trainer.ppo_epochs=2",
    "trainer.mini_batch_size=8",
    "model.num_threads=1",  # the same threads in every process: CPU matmuls are then bit-reproducible
    "algorithm.advantage=gae",
    "algorithm.lam=0.95",
    "critic={lr: 1e-2, warmup_steps: 1}",
]


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _run(tmp_path, *overrides):
    trainer = make_trainer(tiny_recipe(tmp_path, *PPO, *overrides), show_progress=False)
    trainer.fit()
    trainer.close()
    return trainer.run_dir


def _critic_at(run_dir, step: int) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / "checkpoints" / f"step-{step:04d}").state.tensors["critic"]


def _assert_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=atol, msg=key)


def test_the_critic_trains_checkpoints_and_resumes_on_the_ray_backend(tmp_path):
    local = _run(tmp_path / "local", "trainer.run_name=local")
    remote = _run(tmp_path / "ray", "trainer.run_name=ray", *RAY)

    # trained in the learner actor: warm-up first, then policy and critic together, as in the local run
    rows = read_metrics(remote / "metrics.jsonl")
    assert [r["critic/warmup"] for r in rows] == [1.0, 0.0, 0.0]
    assert [r["critic/value_loss"] for r in rows] == pytest.approx(
        [r["critic/value_loss"] for r in read_metrics(local / "metrics.jsonl")], abs=1e-6
    )
    first, last = _critic_at(remote, 1), _critic_at(remote, 3)
    assert not torch.equal(first["head.weight"], last["head.weight"]), "the critic must keep learning"
    _assert_equal(last, _critic_at(local, 3), atol=1e-5)

    # resumed on Ray from step 2: the same policy, critic and critic optimizer as the uninterrupted run
    full = read_checkpoint(remote / "checkpoints" / "step-0003")
    step2 = remote / "checkpoints" / "step-0002"
    _run(tmp_path / "ray", "trainer.run_name=ray", f"trainer.resume={step2}", *RAY)
    resumed = read_checkpoint(remote / "checkpoints" / "step-0003")
    _assert_equal(resumed.weights, full.weights, atol=0)
    _assert_equal(resumed.state.tensors["critic"], full.state.tensors["critic"], atol=0)
    moments = [s["exp_avg"] for s in resumed.state.objects["critic"]["optimizer"]["state"].values()]
    expected = [s["exp_avg"] for s in full.state.objects["critic"]["optimizer"]["state"].values()]
    assert len(moments) == len(expected) > 0
    for a, b in zip(moments, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert read_metrics(remote / "metrics.jsonl")[-1]["step"] == 3
