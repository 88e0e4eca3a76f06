"""PPO with a critic (``algorithm.advantage: gae``) and a KL term on a sharded learner: the value model and
the reference model are sharded with FSDP2 on the same 2 gloo ranks as the policy, which trains exactly as
in one process (the same values,
value loss, policy and critic weights: atol 1e-6), and its DCP shards live in the same checkpoint: written
by 2 ranks and resumed by 1 process, written by 1 process and resumed by 2 ranks, with the next step equal
to the uninterrupted run's. The same ranks then broadcast their weights to a rollout worker in this process
over a gloo weight-sync group (``learner.weight_sync: broadcast``; gloo stands in for NCCL), which ends with
exactly the learner's weights. One spawn of 2 ranks runs every sharded part (a spawn costs seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlvr.config import RunConfig, load_config
from rlvr.distributed.fsdp import node_address
from rlvr.distributed.spawn import run_ranks
from rlvr.distributed.weight_broadcast import BroadcastRolloutRole, BroadcastTicket
from rlvr.training.checkpoint import verify
from rlvr.training.roles import LearnerRole

from .test_fsdp_checkpoint import (
    TINY,
    _assert_close,
    _resumed,
    _sharded_role,
    _train,
    _weights,
)
from .test_weight_broadcast import in_thread

METRICS = ("critic/value_loss", "critic/grad_norm", "critic/vf_clipfrac", "critic/explained_variance")
METRICS += ("train/pg_loss", "train/kl_loss", "train/grad_norm", "train/advantage_abs_mean")


def _cfg(world_size: int) -> RunConfig:
    over = [f"model.tiny={TINY}", "optim.lr=1e-3", "optim.eps=1e-6", "model.num_threads=1"]
    over += ["algorithm.advantage=gae", "critic={lr: 1e-5}", "trainer.skip_zero_advantage=false"]
    over += ["algorithm.kl_coef=0.01"]  # a reference model too
    # 2 epochs of mini-batches of 5 rows (5, 5, 5, 1) in micro-batches of 2: rank shares of 3 and 2 rows,
    # and 1 and 0, so the ranks run different numbers of micro-batches and pad with zero-weighted passes
    over += ["trainer.micro_batch_size=2", "trainer.mini_batch_size=5", "trainer.ppo_epochs=2"]
    if world_size > 1:  # weights broadcast in 20 KiB buckets
        over += ["backend=ray", f"learner.world_size={world_size}", "learner.weight_sync=broadcast"]
        over += ["learner.weight_sync_bucket_mb=0.02"]
    return load_config(None, over)


def _result(role, metrics, saved) -> dict:
    return {
        "metrics": metrics,
        "policy": _weights(role.model),
        "critic": _weights(role.critic.model),
        "saved": None if saved is None else str(saved),
    }


def _sharded(rank: int, world_size: int, run_dir: str, resume: str, port: int) -> list[dict]:
    """On each rank: an uninterrupted run that checkpoints after step 1, then a run resumed from the
    one-process checkpoint ``resume``, whose weights are then broadcast to the rollout worker at ``port``."""
    out = []
    for resume_from in (None, resume):
        role = _sharded_role(_cfg(world_size), rank, world_size)
        first = _resumed(role, resume_from)
        out.append(_result(role, *_train(role, Path(run_dir), first, 1 if resume_from is None else None)))
    role.open_weight_group("gloo", "127.0.0.1", port, 2)  # rank 0 and one rollout worker
    role.broadcast_weights()
    return out


def _single(run_dir: Path, save_at: int | None = None, resume: Path | None = None) -> dict:
    role = LearnerRole(_cfg(1))
    return _result(role, *_train(role, run_dir, _resumed(role, resume), save_at))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("critic")
    start = LearnerRole(_cfg(1))
    single = _single(tmp / "one", save_at=1)
    single["start"] = {"policy": _weights(start.model), "critic": _weights(start.critic.model)}
    _, port = node_address()
    worker = BroadcastRolloutRole(_cfg(2))

    def receive() -> float:
        worker.open_weight_group("gloo", "127.0.0.1", port, 1, 2)
        return worker.set_weights(BroadcastTicket("gloo"), version=2)

    thread, received = in_thread(receive)
    ranks = run_ranks(_sharded, 2, str(tmp / "two"), single["saved"], port)
    thread.join(60)
    assert "error" not in received, received.get("error")
    return single, ranks, tmp, worker


def test_two_ranks_train_the_policy_and_the_critic_as_one_process(runs):
    single, ranks, _, _ = runs
    assert single["metrics"][0]["critic/value_loss"] > 1e-3  # a real critic loss
    for fresh, _ in ranks:
        for step, (m2, m1) in enumerate(zip(fresh["metrics"], single["metrics"], strict=True)):
            for key in METRICS:
                assert m2[key] == pytest.approx(m1[key], rel=0, abs=1e-6), (step, key)
            assert set(m2) == set(m1)
        _assert_close(fresh["policy"], single["policy"])
        _assert_close(fresh["critic"], single["critic"])
    start = single["start"]["critic"]
    moved = max(float((single["critic"][k] - start[k]).abs().max()) for k in start)
    assert moved > 1e-5  # the critic's weights moved (the head starts at 0, the backbone at step 2)


def test_the_critic_is_in_the_sharded_checkpoint_and_resumes_on_one_process_and_on_two_ranks(runs):
    single, ranks, tmp, _ = runs
    ckpt = Path(ranks[0][0]["saved"])
    assert verify(ckpt) is None  # the manifest covers the shards
    assert sorted(p.name for p in (ckpt / "dcp").iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    assert not list(ckpt.glob("*.safetensors"))  # the weights are only in dcp/
    from rlvr.training.dcp_checkpoint import saved_keys

    assert saved_keys(ckpt) == {"model", "optim", "critic", "critic_optim"}
    assert (Path(single["saved"]) / "model.safetensors").is_file()  # the one-process checkpoint
    resumed = _single(tmp / "one-resumed", resume=ckpt)  # written by 2 ranks, resumed by 1 process
    _assert_close(resumed["policy"], single["policy"])
    _assert_close(resumed["critic"], single["critic"])
    for _, from_one in ranks:  # written by 1 process, resumed by 2 ranks
        assert from_one["metrics"][0]["critic/value_loss"] == pytest.approx(
            single["metrics"][1]["critic/value_loss"], rel=0, abs=1e-6
        )
        _assert_close(from_one["policy"], single["policy"])
        _assert_close(from_one["critic"], single["critic"])


def test_the_rollout_worker_receives_the_sharded_learners_weights_by_broadcast(runs):
    single, ranks, _, worker = runs
    learner = ranks[0][1]["policy"]  # the last run's weights, broadcast in 20 KiB buckets
    start = single["start"]["policy"]
    assert max(float((learner[k] - start[k]).abs().max()) for k in start) > 1e-4  # not the start weights
    assert worker.version == 2
    _assert_close(_weights(worker.model), learner)
