"""Checkpoints of a sharded learner (torch.distributed.checkpoint inside rlvr's atomic checkpoint directory):
written by 1 rank and resumed by 2, with the same weights and optimizer state (the next step after the
resume matches the uninterrupted run's); ``final/`` is a plain Hugging Face model directory. Written by 2
ranks and resumed by 1 process, and written by 1 process and resumed by 2 ranks, are checked with the policy,
the reference and the critic together in the shared spawn of test_fsdp_critic.py. Also: weight sync to a
rollout worker, activation checkpointing, bf16 mixed precision and ProRL's reset on the ranks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rlvr.config import RunConfig, load_config
from rlvr.distributed.spawn import run_ranks
from rlvr.training.checkpoint import CheckpointState, read_checkpoint
from rlvr.training.roles import LearnerRole

from ..training.test_microbatch import _batch

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 2, "max_positions": 64}


def _cfg(world_size: int) -> RunConfig:
    over = [f"model.tiny={TINY}", "optim.lr=1e-3", "optim.eps=1e-6", "algorithm.kl_coef=0.01"]
    over += ["trainer.micro_batch_size=3", "trainer.skip_zero_advantage=false", "model.num_threads=1"]
    if world_size > 1:
        over += ["backend=ray", f"learner.world_size={world_size}"]
    return load_config(None, over)


def _train_inputs(step: int):
    batch = _batch(seed=step)
    scores = torch.randn(batch.size, generator=torch.Generator().manual_seed(step))
    return batch, scores, torch.arange(batch.size) // 4


def _state(step: int) -> CheckpointState:
    return CheckpointState(step=step, rng={}, sampler={}, fingerprint="f", config={})


def _weights(model) -> dict[str, torch.Tensor]:
    from rlvr.distributed.fsdp import full_tensor

    return {k: full_tensor(v).detach().clone() for k, v in model.state_dict().items()}


def _resumed(role, resume: str | Path | None) -> int:
    """Restore ``role`` from the checkpoint ``resume``, if one is given; the first step it then trains."""
    if resume is None:
        return 1
    ckpt = read_checkpoint(Path(resume))
    role.restore(ckpt)
    return ckpt.state.step + 1


def _train(role, run_dir: Path, first: int, save_at: int | None) -> tuple[list[dict], Path | None]:
    """Steps ``first``..2 on ``role``, with a checkpoint after step ``save_at``; their metrics, the checkpoint."""
    metrics, saved = [], None
    for step in range(first, 3):
        metrics.append(role.train_on(*_train_inputs(step)))
        if step == save_at:
            saved = role.save_checkpoint(run_dir, _state(step), keep_last=0, with_reference=False)
    return metrics, saved


def _sharded_role(cfg: RunConfig, rank: int, world_size: int):
    """Learner rank ``rank`` of ``world_size``, joined to its process group."""
    from rlvr.distributed.learner_rank import ShardedLearnerRole

    role = ShardedLearnerRole(cfg, rank, world_size)
    role.join("", 0)
    return role


def _sharded(rank: int, world_size: int, run_dir: str, save_at: int | None, resume: str | None):
    """Rank ``rank``: (resume from ``resume``,) train, (save a checkpoint after step ``save_at``), train."""
    role = _sharded_role(_cfg(world_size), rank, world_size)
    _, saved = _train(role, Path(run_dir), _resumed(role, resume), save_at)
    role.save(Path(run_dir) / "final")
    return _weights(role.model), str(saved)


def _single(run_dir: Path, save_at: int | None, resume: Path | None):
    role = LearnerRole(_cfg(1))
    _, saved = _train(role, run_dir, _resumed(role, resume), save_at)
    return _weights(role.model), saved


def _assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


def test_sharded_checkpoints_reshard_from_one_rank_to_two_and_final_is_a_hf_model(tmp_path):
    from transformers import AutoModelForCausalLM

    ((full, ckpt),) = run_ranks(_sharded, 1, str(tmp_path / "one"), 1, None)
    assert sorted(p.name for p in (Path(ckpt) / "dcp").iterdir()) == [".metadata", "__0_0.distcp"]
    ranks = run_ranks(_sharded, 2, str(tmp_path / "two"), None, ckpt)
    for weights, _ in ranks:
        _assert_close(weights, full)
    final = AutoModelForCausalLM.from_pretrained(tmp_path / "two" / "final")
    assert type(final).__name__ == "LlamaForCausalLM"
    _assert_close({k: v.detach() for k, v in final.state_dict().items()}, full)


def _synced(rank: int, world_size: int, bucket_bytes: float):
    """A step on 2 ranks, then the weights gathered whole and in buckets, loaded into an hf rollout worker."""
    from rlvr.distributed.fsdp import gathered_buckets
    from rlvr.distributed.learner_rank import ShardedLearnerRole
    from rlvr.training.roles import RolloutRole

    cfg = _cfg(world_size)
    role = ShardedLearnerRole(cfg, rank, world_size)
    role.join("", 0)
    role.train_on(*_train_inputs(1))
    whole = role.weights()  # rank 0: a state dict; others: None
    buckets = list(gathered_buckets(role.model, bucket_bytes))
    learner = _weights(role.model)
    if rank != 0:
        assert whole is None and buckets == []
        return None
    rollout = RolloutRole(cfg)
    rollout.set_weights(iter(buckets), version=1)
    from_buckets = _weights(rollout.model)
    rollout.set_weights(whole, version=1)
    return (
        learner,
        from_buckets,
        _weights(rollout.model),
        [sum(t.numel() * 4 for t in b.values()) for b in buckets],
    )


def test_rollout_weights_equal_the_sharded_learners_after_a_step(tmp_path):
    result, _ = run_ranks(_synced, 2, 16 * 1024)
    learner, from_buckets, whole, sizes = result
    assert len(sizes) > 3 and max(sizes) <= 16 * 1024 + 32 * 95 * 4  # one parameter may exceed a bucket alone
    _assert_close(from_buckets, learner)
    _assert_close(whole, learner)
    start = LearnerRole(_cfg(1)).model.state_dict()
    assert max(float((learner[k] - start[k]).abs().max()) for k in start) > 1e-4  # the step moved them


def _checkpointed_step(rank: int, world_size: int):
    """One step with model.gradient_checkpointing (activations recomputed in the backward) on each rank."""
    from rlvr.distributed.learner_rank import ShardedLearnerRole

    cfg = _cfg(world_size)
    cfg.model.gradient_checkpointing = True
    role = ShardedLearnerRole(cfg, rank, world_size)
    role.join("", 0)
    return role.train_on(*_train_inputs(1)), _weights(role.model)


def test_activation_checkpointing_on_the_ranks_takes_the_one_process_step():
    (metrics, weights), _ = run_ranks(_checkpointed_step, 2)
    single = LearnerRole(_cfg(1))
    expected = single.train_on(*_train_inputs(1))
    for key in ("train/pg_loss", "train/kl_loss", "train/grad_norm"):
        assert metrics[key] == pytest.approx(expected[key], rel=0, abs=1e-6), key
    _assert_close(weights, _weights(single.model))


def _bf16_step(rank: int, world_size: int):
    """One step with learner.mixed_precision=bf16: bf16 forward/backward, fp32 reduction and master weights."""
    from rlvr.distributed.learner_rank import ShardedLearnerRole

    cfg = _cfg(world_size)
    cfg.learner.mixed_precision = "bf16"
    role = ShardedLearnerRole(cfg, rank, world_size)
    role.join("", 0)
    metrics = role.train_on(*_train_inputs(1))
    weights = _weights(role.model)
    return metrics, {k: v.dtype for k, v in weights.items()}


def test_bf16_mixed_precision_keeps_fp32_master_weights_and_tracks_the_fp32_step():
    (bf16, dtypes), _ = run_ranks(_bf16_step, 2)
    fp32 = LearnerRole(_cfg(1)).train_on(*_train_inputs(1))
    assert set(dtypes.values()) == {torch.float32}
    # measured: grad norm 0.67234 (bf16) vs 0.67257 (fp32), policy loss 0.121290 vs 0.121290
    assert bf16["train/grad_norm"] == pytest.approx(fp32["train/grad_norm"], rel=0.01)
    assert bf16["train/pg_loss"] == pytest.approx(fp32["train/pg_loss"], rel=0.01)
    assert bf16["train/grad_norm"] != fp32["train/grad_norm"]  # the forward really ran in bf16


def _reset(rank: int, world_size: int):
    """A step, then ProRL's reset on the ranks: the sharded reference takes the sharded policy's weights."""
    from rlvr.distributed.learner_rank import ShardedLearnerRole

    role = ShardedLearnerRole(_cfg(world_size), rank, world_size)
    role.join("", 0)
    role.train_on(*_train_inputs(1))
    before = _weights(role.learner.reference)
    role.reset_reference()
    return _weights(role.model), before, _weights(role.learner.reference), len(role.learner.optimizer.state)


def test_reference_reset_copies_the_sharded_policy_into_the_sharded_reference():
    (policy, before, after, moments), _ = run_ranks(_reset, 2)
    assert max(float((policy[k] - before[k]).abs().max()) for k in policy) > 1e-4  # they differed
    _assert_close(after, policy)
    assert moments == 0  # fresh AdamW moments
