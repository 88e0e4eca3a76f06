"""The three roles of the loop as plain objects: the learner, a rollout worker and a reward worker.

Each role is built from the RunConfig alone (so a Ray actor can build it in its own process) and talks
in plain data: token batches and tensors in, metrics, completions and state dicts out. The trainer
reaches them through a handle (:mod:`rlvr.distributed.handles`) and never knows whether a role lives
in its own process or in a Ray actor on another machine.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from rlvr.algorithms import ADVANTAGES, kl_penalty
from rlvr.algorithms.multiturn import OUTCOME_ESTIMATORS, trajectory_advantages
from rlvr.config import RunConfig
from rlvr.models.attention import set_cudnn_attention
from rlvr.models.load import frozen_copy, load_model, load_tokenizer
from rlvr.models.vlm import is_vlm
from rlvr.models.vlm_load import save_vlm_processor
from rlvr.rewards.factory import router_for
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.engine import RolloutEngine, WeightLoadingEngine
from rlvr.rollout.types import Completion, SamplingParams
from rlvr.training.batch import TokenBatch, last_token_rewards
from rlvr.training.checkpoint import Checkpoint, CheckpointState, load_weights, save_checkpoint
from rlvr.training.critic import build_critic, value_metrics
from rlvr.training.episode_rollout import EpisodeTargets
from rlvr.training.filtering import update_filter_names
from rlvr.training.learner import Learner
from rlvr.training.reference_reset import copy_into_reference
from rlvr.training.seeding import seed_everything


def learner_kwargs(cfg: RunConfig) -> dict[str, Any]:
    """The :class:`~rlvr.training.learner.Learner` arguments a run's config sets (all but the model and
    the reference): one place for the one-process learner and the ranks of a sharded one."""
    return {
        "algo": cfg.algorithm,
        "optim": cfg.optim,
        "trainer": cfg.trainer,
        "total_steps": cfg.trainer.steps,
        "temperature": cfg.rollout.temperature,
        "norm_len": cfg.rollout.max_new_tokens,
        "update_filters": update_filter_names(cfg),
    }


def policy_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the policy's weights, safe to ship while the learner goes on updating."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class LearnerRole:
    """The policy being trained: its model, optimizer, reference and the update math.

    ``model`` / ``tokenizer`` may be passed in (the local backend shares them with an in-process rollout
    engine); otherwise they are built from the config with the run's seed, so every process that builds
    a learner starts from the same weights.
    """

    def __init__(self, cfg: RunConfig, model=None, tokenizer=None) -> None:
        self.cfg = cfg
        if model is None:
            seed_everything(cfg.trainer.seed)
            tokenizer = load_tokenizer(cfg.model)
            model = load_model(cfg.model, tokenizer)
        else:  # a model object the user built: the attention setting load_model would have made
            set_cudnn_attention(cfg.model.cudnn_attention, next(model.parameters()).device)
        self.model, self.tokenizer = model, tokenizer
        self.advantage_fn = ADVANTAGES.get(cfg.algorithm.advantage)
        self.learner = Learner(model, reference=self._reference(), **learner_kwargs(cfg))
        self.critic = build_critic(cfg, model)  # PPO's value model; None without a critic: section

    def _reference(self):
        """The frozen reference policy, only when a KL term needs it (kl_coef > 0)."""
        if self.cfg.algorithm.kl_coef == 0:
            return None
        if self.cfg.model.lora is not None:
            return "adapter"  # the base model with the adapter disabled
        return frozen_copy(self.model)

    def ping(self) -> bool:
        return True

    # ---- one update -----------------------------------------------------------------------------
    def train_on(
        self,
        batch: TokenBatch,
        scores: torch.Tensor,
        group_index: torch.Tensor,
        episodes: EpisodeTargets | None = None,
    ) -> dict[str, float]:
        """Old / reference log-probs, advantages, the critic's and the policy's update on one scored batch.
        ``episodes`` (multi-turn rows) replaces ``scores`` by token rewards and groups trajectories."""
        algo, trainer = self.cfg.algorithm, self.cfg.trainer
        t0 = time.perf_counter()
        several_passes = trainer.ppo_epochs > 1 or (trainer.mini_batch_size or batch.size) < batch.size
        need_old = several_passes or (algo.kl_coef > 0 and algo.kl_in_reward)
        old = self.learner.logprobs(batch) if need_old else None
        ref = self.learner.logprobs(batch, reference=True) if algo.kl_coef > 0 else None
        values = self.critic.values(batch) if self.critic is not None else None
        t1 = time.perf_counter()
        metrics = {"perf/logprob_s": t1 - t0}

        if episodes is None:
            token_rewards = last_token_rewards(scores, batch.response_mask)
        else:
            token_rewards = episodes.token_rewards
        if ref is not None and algo.kl_in_reward:
            kl = kl_penalty(old, ref, algo.kl_estimator) * batch.response_mask  # (B, R)
            token_rewards = token_rewards - algo.kl_coef * kl
            metrics["train/kl_in_reward"] = float(kl.sum() / batch.response_mask.sum().clamp_min(1))
        advantages, returns = self._advantages(batch, token_rewards, group_index, episodes, values)
        if (
            algo.num_update_samples_per_prompt is not None
        ):  # RaML: a random subset of each group gets gradient
            batch = self._update_subset(batch, group_index, metrics)
        metrics["train/advantage_abs_mean"] = float(
            (advantages.abs() * batch.response_mask).sum() / batch.response_mask.sum().clamp_min(1)
        )
        warming_up = False
        if self.critic is not None and values is not None:
            warming_up = self.critic.scheduler.last_epoch < self.critic.cfg.warmup_steps
            metrics.update(value_metrics(values, returns, batch.response_mask))
            metrics.update(self.critic.update(batch, returns, values))
            metrics["critic/warmup"] = float(warming_up)
        if not warming_up:  # critic warm-up: the policy waits until the critic has seen some returns
            metrics.update(self.learner.filter_metrics(advantages, batch.response_mask, ref))
            use_tis = algo.tis_cap is not None
            metrics.update(self.learner.update(batch, advantages, old, ref, use_behaviour_for_tis=use_tis))
        metrics["perf/update_s"] = time.perf_counter() - t1
        return metrics

    def _advantages(self, batch, token_rewards, group_index, episodes, values):
        """(advantages, returns) (B, R): per row for single-turn batches, over trajectories otherwise."""
        algo, mt = self.cfg.algorithm, self.cfg.multiturn
        if episodes is None:
            return self.advantage_fn(token_rewards, batch.response_mask, group_index, algo, values)
        per_turn = mt.turn_rewards == "return" and algo.advantage in OUTCOME_ESTIMATORS
        return trajectory_advantages(
            self.advantage_fn,
            token_rewards,
            batch.response_mask,
            episodes.row_traj,
            episodes.traj_group,
            algo,
            values,
            per_turn_gamma=mt.turn_gamma if per_turn else None,
        )

    def _update_subset(
        self, batch: TokenBatch, group_index: torch.Tensor, metrics: dict[str, float]
    ) -> TokenBatch:
        """The batch with the rows outside RaML's update subset masked out of the loss; the draw is seeded by
        the run's seed and the scheduler's update count (checkpointed), so a resumed run draws the same."""
        from dataclasses import replace

        from rlvr.algorithms.subsample import update_subset, update_subset_generator

        k = self.cfg.algorithm.num_update_samples_per_prompt
        assert k is not None
        gen = update_subset_generator(self.cfg.trainer.seed, int(self.learner.scheduler.last_epoch))
        keep = update_subset(group_index, k, gen)  # (B,)
        metrics["train/update_rows"] = float((keep & (batch.response_mask.sum(-1) > 0)).sum())
        return replace(batch, response_mask=batch.response_mask * keep[:, None].to(batch.response_mask.dtype))

    def nonfinite_streak(self) -> int:
        return self.learner.nonfinite_streak

    def weights(self) -> dict[str, torch.Tensor]:
        """The policy's weights for a rollout worker (a snapshot: later updates don't change it)."""
        return policy_weights(self.model)

    # ---- reference reset, checkpoints, saving ------------------------------------------------------
    def reset_reference(self) -> None:
        """ProRL: pi_ref <- pi_theta and fresh optimizer moments."""
        copy_into_reference(self.model, self.learner.reference)
        self.learner.reset_optimizer()

    def save_checkpoint(
        self, run_dir: Path, state: CheckpointState, keep_last: int, with_reference: bool
    ) -> Path:
        """Fill in the learner's part of ``state`` (optimizer, schedule, counters, reference weights) and
        write the checkpoint atomically."""
        state.optimizer = self.learner.optimizer.state_dict()
        state.scheduler = self.learner.scheduler.state_dict()
        state.counters = self.learner.counters()
        ref = self.learner.reference
        if with_reference and isinstance(ref, torch.nn.Module):
            state.tensors = {**state.tensors, "reference": ref.state_dict()}
        if self.critic is not None:
            state.tensors = {**state.tensors, "critic": self.critic.weights()}
            state.objects = {**state.objects, "critic": self.critic.training_state()}
        return save_checkpoint(run_dir, self.model, self.tokenizer, state, keep_last)

    def restore(self, ckpt: Checkpoint) -> None:
        critic = self.critic
        if critic is not None and "critic" not in ckpt.state.objects:
            raise ValueError(f"checkpoint {ckpt.path} has no critic; the run's config has a critic: section")
        if ckpt.sharded:  # written by a sharded learner (learner.world_size > 1): weights and AdamW in dcp/
            from rlvr.training.dcp_checkpoint import load_training_state

            optimizer = self.learner.optimizer
            load_training_state(self.model, optimizer, ckpt.path, self.learner.reference, critic)
            if critic is not None:
                critic.scheduler.load_state_dict(ckpt.state.objects["critic"]["scheduler"])
        else:
            load_weights(self.model, ckpt)
            self.learner.optimizer.load_state_dict(ckpt.state.optimizer)
            if critic is not None:
                critic.load(ckpt.state.tensors["critic"], ckpt.state.objects["critic"])
        self.learner.scheduler.load_state_dict(ckpt.state.scheduler)
        self.learner.load_counters(ckpt.state.counters)
        if "reference" in ckpt.state.tensors and isinstance(self.learner.reference, torch.nn.Module):
            self.learner.reference.load_state_dict(ckpt.state.tensors["reference"])

    def save(self, path: Path) -> Path:
        """The policy (or its LoRA adapter) and tokenizer, loadable with from_pretrained."""
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        save_vlm_processor(self.tokenizer, path)
        return path


class RolloutRole:
    """A rollout worker: an engine (hf or vllm) and the version of the weights it samples with.

    With ``model`` given (local, synchronous) the hf engine samples with the learner's own model object
    and weight sync is free. Otherwise the worker holds its own copy, refreshed by :meth:`set_weights`.
    ``model_path`` is where a vLLM engine loads its architecture and first weights from.
    """

    def __init__(
        self, cfg: RunConfig, model=None, tokenizer=None, model_path: str | None = None, rank: int = 0
    ):
        self.cfg, self.rank = cfg, rank
        seed = cfg.trainer.seed + 7919 * rank  # workers draw distinct streams; rank 0 matches the local run
        self.version = 0
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(cfg.model)
        self.shares_learner_model = model is not None
        if cfg.rollout.engine == "vllm":
            from rlvr.rollout.vllm_engine import VLLMEngine

            path = model_path or cfg.model.path
            if path is None:
                raise ValueError(
                    "rollout.engine=vllm needs a model directory (model.path, or the run's saved policy)"
                )
            self.model = None
            self.engine: RolloutEngine = VLLMEngine(
                path,
                self.tokenizer,
                seed=seed,
                max_batch_size=cfg.rollout.max_batch_size,
                dtype=cfg.model.dtype,
                gpu_memory_utilization=cfg.rollout.gpu_memory_utilization,
                **({"enable_sleep_mode": True} if cfg.placement == "colocated" else {}),
            )
        else:
            from rlvr.rollout.hf_engine import HFEngine

            if model is None:
                seed_everything(cfg.trainer.seed)  # the weights are replaced at the first sync anyway
                model = load_model(cfg.model, self.tokenizer)
                model.requires_grad_(False)
            self.model = model
            if is_vlm(model):  # images through the model's own vision path (rlvr.rollout.vlm_generate)
                from rlvr.rollout.vlm_generate import VisionEngine as HFEngine  # noqa: N814
            self.engine = HFEngine(
                model,
                self.tokenizer,
                cfg.rollout.max_batch_size,
                seed=seed,
                fast_decoder=cfg.rollout.fast_decoder,
                max_kv_cache_bytes=cfg.rollout.max_kv_cache_bytes,
                cuda_graphs=cfg.rollout.cuda_graphs,
            )

    def ping(self) -> bool:
        return True

    def generate(
        self, prompts: list[list[int]], params: SamplingParams
    ) -> tuple[list[Completion], dict[str, float]]:
        """Completions of ``prompts`` and this call's figures: seconds, tokens, the weight version used."""
        t0 = time.perf_counter()
        completions = self.engine.generate(prompts, params)
        info = {
            "gen_s": time.perf_counter() - t0,
            "tokens": float(sum(len(c.token_ids) for c in completions)),
            "version": float(self.version),
        }
        return completions, info

    def set_weights(self, weights: Any, version: int) -> float:
        """Load the learner's weights (version = its number of updates): a state dict, or an iterable of
        partial state dicts (a sharded learner's buckets); returns the seconds it took."""
        t0 = time.perf_counter()
        if not self.shares_learner_model:
            whole = isinstance(weights, dict)  # else buckets of a sharded learner, fetched one at a time
            for part in [weights] if whole else weights:
                if self.model is None:
                    assert isinstance(self.engine, WeightLoadingEngine), (
                        "an engine without the model holds weights"
                    )
                    self.engine.load_weights(part.items())
                else:
                    self.model.load_state_dict(part, strict=whole)
        self.version = version
        return time.perf_counter() - t0

    def sleep(self) -> None:
        """Free the device for a colocated learner (vLLM sleep mode; nothing to free for hf)."""
        if hasattr(self.engine, "sleep"):
            self.engine.sleep()

    def wake_up(self) -> None:
        if hasattr(self.engine, "wake_up"):
            self.engine.wake_up()

    # the sampling stream: checkpointed, and re-seeded around evaluation so eval never shifts training
    def generator_state(self) -> torch.Tensor:
        return self.engine.generator.get_state()

    def set_generator_state(self, state: torch.Tensor) -> None:
        self.engine.generator.set_state(state)

    def seed_generator(self, seed: int) -> None:
        self.engine.generator.manual_seed(seed)

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()


class RewardRole:
    """A reward worker: the verifier router (in-process, process pool or reward server) behind a call."""

    def __init__(self, cfg: RunConfig) -> None:
        self.router = router_for(cfg.reward)

    def ping(self) -> bool:
        return True

    def score(self, requests: list[ScoreRequest]) -> list[RewardResult]:
        return self.router.score(requests)

    def close(self) -> None:
        self.router.close()
