"""The RL loop: sample prompts -> generate -> score -> advantages -> update -> log -> checkpoint.

The trainer looks every piece of math up by name (``ADVANTAGES.get(cfg.algorithm.advantage)``); it
never branches on which algorithm it runs. Each stage passes plain data to the next.

A run can be killed at any moment and resumed (``trainer.resume``): checkpoints (see
:mod:`rlvr.training.checkpoint`) hold every piece of state a step reads, so the resumed run continues with
the same batches, the same random draws and the same weights as if it had never stopped. SIGINT / SIGTERM
finish the current step and write a checkpoint before the run exits; a second one aborts at once.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rlvr.algorithms import ADVANTAGES, kl_penalty
from rlvr.algorithms.filters import not_truncated
from rlvr.config import RunConfig
from rlvr.data.sample import Sample
from rlvr.data.sampler import PromptSampler
from rlvr.data.specs import load_dataset_specs
from rlvr.eval.evaluate import evaluate
from rlvr.models.load import frozen_copy, load_model, load_tokenizer
from rlvr.rewards.async_scoring import submit
from rlvr.rewards.completions import score_requests
from rlvr.rewards.factory import build_router
from rlvr.rewards.monitoring import DEFAULT_REFLECTION_WORDS, behaviour_metrics, reflection_metrics
from rlvr.rewards.param_schedules import ParamSchedule
from rlvr.rewards.schedules import ThresholdSchedule
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.tracking.run_dir import attach_run_log, detach_run_log, new_run_dir, write_config
from rlvr.tracking.sinks import build_sinks
from rlvr.training.batch import collate, last_token_rewards
from rlvr.training.checkpoint import (
    Checkpoint,
    CheckpointState,
    check_compatible,
    dataset_fingerprint,
    discard_after,
    find_resume_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
    truncate_logs,
)
from rlvr.training.collect import RolloutBatch, collect
from rlvr.training.learner import Learner
from rlvr.training.reference_reset import ResetPolicy, copy_into_reference
from rlvr.training.rollout_metrics import rollout_metrics
from rlvr.training.sample_log import write_samples
from rlvr.training.seeding import seed_everything
from rlvr.training.signals import StopSignals

log = logging.getLogger(__name__)


class NonFiniteError(RuntimeError):
    """Too many consecutive updates with a NaN/inf loss or gradient."""


def eval_params(cfg: RunConfig) -> SamplingParams:
    e = cfg.eval
    return SamplingParams(
        n=e.n,
        temperature=e.temperature,
        top_p=e.top_p,
        max_new_tokens=e.max_new_tokens or cfg.rollout.max_new_tokens,
        stop=cfg.rollout.stop,
    )


class RLTrainer:
    """Builds every role from a RunConfig and runs the loop. ``fit()`` returns the final eval metrics."""

    def __init__(self, cfg: RunConfig, run_dir: str | Path | None = None, show_progress: bool = True) -> None:
        self.cfg = cfg
        self.show_progress = show_progress
        seed_everything(cfg.trainer.seed)
        self.train_samples: list[Sample] = load_dataset_specs(cfg.data.train)
        if not self.train_samples:
            raise ValueError("data.train is empty: an RL run needs prompts")
        self.eval_samples: list[Sample] = load_dataset_specs(cfg.data.eval) if cfg.data.eval else []
        self.fingerprint = dataset_fingerprint(self.train_samples)
        t = cfg.trainer
        resume = find_resume_checkpoint(t.resume, t.output_dir, t.run_name or cfg.name)
        if resume is not None:
            check_compatible(resume, cfg.model_dump(mode="json"), self.fingerprint, t.resume_force)
            run_dir = resume.run_dir  # a resumed run continues in its own directory
        self.run_dir = Path(run_dir) if run_dir else new_run_dir(t.output_dir, cfg.name, t.run_name)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_config(self.run_dir, cfg)
        self._log_handler = attach_run_log(self.run_dir)

        self.tokenizer = load_tokenizer(cfg.model)
        self.model = load_model(cfg.model, self.tokenizer)
        self.engine = HFEngine(self.model, self.tokenizer, cfg.rollout.max_batch_size, seed=cfg.trainer.seed)
        self.router = build_router(cfg.reward.workers, cfg.reward.timeout_s, cfg.reward.server_url)
        self.param_schedules = [
            ParamSchedule(p.param, p.verifiers, ThresholdSchedule(p.boundaries, p.values))
            for p in cfg.reward.schedules
        ]
        self.reset_policy = ResetPolicy(cfg.reference_reset)
        rr = cfg.reference_reset
        if (rr.every or rr.metric) and cfg.algorithm.kl_coef == 0:
            raise ValueError(
                "reference_reset needs a reference model: set algorithm.kl_coef > 0 (ProRL uses 1e-4)"
            )
        self.advantage_fn = ADVANTAGES.get(cfg.algorithm.advantage)
        self.learner = Learner(
            self.model,
            cfg.algorithm,
            cfg.optim,
            cfg.trainer,
            total_steps=cfg.trainer.steps,
            temperature=cfg.rollout.temperature,
            norm_len=cfg.rollout.max_new_tokens,
            reference=self._reference(),
        )
        self.sampler = PromptSampler(len(self.train_samples), batch_size=1, seed=cfg.trainer.seed)
        self.step = 0
        self.last_checkpoint: Path | None = None
        self._checkpoint_step = -1
        self.stopped_by: signal.Signals | None = None  # set when a signal ended fit() early
        if resume is not None:
            self._restore(resume)  # before the logger opens metrics.jsonl, which it truncates
        self.logger = build_sinks(cfg.tracking, self.run_dir, self.run_dir.name, cfg.model_dump(mode="json"))

    def _reference(self):
        """The frozen reference policy, only when a KL term needs it (kl_coef > 0)."""
        if self.cfg.algorithm.kl_coef == 0:
            return None
        if self.cfg.model.lora is not None:
            return "adapter"  # the base model with the adapter disabled
        return frozen_copy(self.model)

    # ---- the loop -------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Train up to trainer.steps and return the final eval metrics; {} when a signal stopped it early
        (``stopped_by`` says which, ``last_checkpoint`` where it can be resumed from)."""
        cfg = self.cfg.trainer
        bar = tqdm(
            total=cfg.steps, initial=self.step, desc="rl", disable=not self.show_progress, dynamic_ncols=True
        )
        with StopSignals() as stop:
            try:
                while self.step < cfg.steps and stop.received is None:
                    metrics = self.train_step()
                    self.step += 1
                    if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                        metrics.update(self.evaluate())
                    metrics.update(self._maybe_reset_reference(metrics))
                    if self.step % cfg.log_every == 0:
                        self.logger.log(self.step, metrics)
                    if cfg.save_every and self.step % cfg.save_every == 0:
                        self.save_checkpoint()
                    if self.learner.nonfinite_streak >= cfg.max_nonfinite_steps:
                        self._stop_nonfinite()
                    bar.update(1)
                    bar.set_postfix(
                        reward=f"{metrics.get('reward/all/reward_mean', float('nan')):.3f}",
                        step_s=f"{metrics['perf/step_s']:.2f}",
                        tok_s=f"{metrics['perf/gen_tokens_per_s']:.0f}",
                    )
            finally:
                bar.close()
            self.save_checkpoint()  # at exit, whether the run ended or a signal stopped it
        if stop.received is not None:
            self.stopped_by = stop.received
            log.warning(
                "stopped by %s after step %d; checkpoint %s. Continue with `rlvr train <recipe> --resume %s`.",
                stop.received.name,
                self.step,
                self.last_checkpoint,
                self.run_dir,
            )
            return {}
        final = self.evaluate() if self.eval_samples else {}
        if final:
            self.logger.log(self.step, final)
        self.save(self.run_dir / "final")
        return final

    def train_step(self) -> dict[str, float]:
        """One step of the loop: collect a scored batch, update the policy; returns the step's metrics."""
        t0 = time.perf_counter()
        self._perf = {"perf/gen_s": 0.0, "perf/reward_wait_s": 0.0, "perf/gen_tokens": 0.0}
        f = self.cfg.filters
        rollouts = collect(
            self._next_prompts,
            self._generate_and_score,
            target_groups=self.cfg.trainer.prompts_per_step,
            dynamic=f.dynamic_sampling,
            max_rounds=f.max_rounds,
            oversample=f.oversample,
        )
        metrics = dict(rollouts.stats)
        if rollouts.completions:
            batch, scores, group_index = self._to_tensors(rollouts)
            metrics.update(self._update(batch, scores, group_index))
            metrics.update(rollout_metrics(rollouts.completions, rollouts.requests, rollouts.results))
            metrics.update(self._monitor(rollouts))
        else:  # dynamic sampling found no informative group within its rounds: nothing to learn from
            log.warning(
                "step %d: no informative group after %d rounds; update skipped", self.step + 1, f.max_rounds
            )
            metrics["train/skipped_updates"] = 1.0
        every = self.cfg.monitor.log_samples_every
        if every and (self.step + 1) % every == 0 and rollouts.completions:
            write_samples(
                self.run_dir, self.step + 1, rollouts, self.tokenizer, self.cfg.monitor.samples_per_log
            )
        metrics.update(self._perf)
        metrics["perf/step_s"] = time.perf_counter() - t0
        metrics["perf/gen_tokens_per_s"] = self._perf["perf/gen_tokens"] / max(self._perf["perf/gen_s"], 1e-9)
        return metrics

    def _next_prompts(self, k: int) -> list[Sample]:
        """The next k prompts in the sampler's order (epochs reshuffle; nothing is skipped or buffered,
        so the sampler's position alone says where a resumed run continues)."""
        return [self.train_samples[self.sampler.next_batch()[0]] for _ in range(k)]

    def _generate_and_score(self, samples: list[Sample]) -> RolloutBatch:
        """n completions per prompt; each chunk of completions is scored while the next one generates."""
        progress = self.step / self.cfg.trainer.steps
        prefix = f"step{self.step + 1}/"
        completions, requests, pending = [], [], []
        t0 = time.perf_counter()
        for chunk in self.engine.generate_iter(
            encode_prompts(self.tokenizer, samples), self.cfg.rollout.sampling_params()
        ):
            reqs = score_requests(samples, chunk, key_prefix=prefix)
            for schedule in self.param_schedules:
                reqs = schedule.apply(reqs, progress)
            pending.append(submit(self.router, reqs))
            completions.extend(chunk)
            requests.extend(reqs)
        t_gen = time.perf_counter()
        results = [r for future in pending for r in future.result()]
        self._perf["perf/gen_s"] += t_gen - t0
        self._perf["perf/reward_wait_s"] += time.perf_counter() - t_gen
        self._perf["perf/gen_tokens"] += sum(len(c.token_ids) for c in completions)
        return RolloutBatch(list(samples), completions, requests, results)

    def _to_tensors(self, rollouts: RolloutBatch):
        """The token batch, scores (B,) and group index (B,); errored (and, with overlong filtering,
        truncated) samples are masked out of the loss and kept out of their group's statistics."""
        batch = collate(rollouts.completions, self.tokenizer.pad_token_id)
        errored = torch.tensor([r.error is not None for r in rollouts.results])
        truncated = torch.tensor([c.finish_reason == "length" for c in rollouts.completions])
        batch.response_mask[errored] = 0.0  # a failed verification trains nothing, and is counted
        if self.cfg.filters.overlong:
            batch.response_mask[~not_truncated(truncated)] = 0.0
        scores = torch.tensor([0.0 if r.error else r.score for r in rollouts.results])
        rows = torch.arange(batch.size)
        prompt = torch.tensor([c.prompt_index for c in rollouts.completions])
        return batch, scores, torch.where(errored, batch.size + rows, prompt)

    def _monitor(self, rollouts: RolloutBatch) -> dict[str, float]:
        """Reflection-word and behaviour-pattern rates per data_source, with accuracy split by presence."""
        texts = [c.text for c in rollouts.completions]
        sources = [r.data_source for r in rollouts.requests]
        correct = [r.correct for r in rollouts.results]
        words = self.cfg.monitor.reflection_words or DEFAULT_REFLECTION_WORDS
        metrics = reflection_metrics(texts, sources, correct, words=words)
        for name, pattern in self.cfg.monitor.behaviours.items():
            metrics.update(behaviour_metrics(texts, sources, correct, pattern, name))
        return metrics

    def _maybe_reset_reference(self, metrics: dict[str, float]) -> dict[str, float]:
        """ProRL: pi_ref <- pi_theta and fresh optimizer moments, when the reset policy says so."""
        reason = self.reset_policy.observe(self.step, metrics)
        if reason is None:
            return {}
        copy_into_reference(self.model, self.learner.reference)
        self.learner.reset_optimizer()
        log.info("step %d: reference policy reset (%s)", self.step, reason)
        return {"train/reference_reset": 1.0}

    def _reference_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """The reference model's weights, once a reset has made them differ from the initial model."""
        ref = self.learner.reference
        if isinstance(ref, torch.nn.Module) and self.reset_policy.last_reset > 0:
            return {"reference": ref.state_dict()}
        return {}

    def _stop_nonfinite(self) -> None:
        """Checkpoint the last good state and raise NonFiniteError. A skipped update changes no weight, so the
        current weights are those of the last good update."""
        checkpoint = self.save_checkpoint()
        last_good = self.save(self.run_dir / "last-good")
        raise NonFiniteError(
            f"{self.learner.nonfinite_streak} consecutive steps had a NaN/inf loss or gradient and their updates "
            f"were skipped; stopped after step {self.step}. The weights are those of the last good update: "
            f"checkpoint {checkpoint}, model {last_good}. Try a lower optim.lr or a smaller optim.max_grad_norm, "
            f"and continue with `rlvr train <recipe> --resume {self.run_dir} --force-resume optim.lr=...`."
        )

    def _update(self, batch, scores: torch.Tensor, group_index: torch.Tensor) -> dict[str, float]:
        algo, trainer = self.cfg.algorithm, self.cfg.trainer
        t0 = time.perf_counter()
        several_passes = trainer.ppo_epochs > 1 or (trainer.mini_batch_size or batch.size) < batch.size
        need_old = several_passes or (algo.kl_coef > 0 and algo.kl_in_reward)
        old = self.learner.logprobs(batch) if need_old else None
        ref = self.learner.logprobs(batch, reference=True) if algo.kl_coef > 0 else None
        metrics = {"perf/logprob_s": time.perf_counter() - t0}

        token_rewards = last_token_rewards(scores, batch.response_mask)
        if ref is not None and algo.kl_in_reward:
            kl = kl_penalty(old, ref, algo.kl_estimator) * batch.response_mask  # (B, R)
            token_rewards = token_rewards - algo.kl_coef * kl
            metrics["train/kl_in_reward"] = float(kl.sum() / batch.response_mask.sum().clamp_min(1))
        advantages, _ = self.advantage_fn(token_rewards, batch.response_mask, group_index, algo)
        metrics["train/advantage_abs_mean"] = float(
            (advantages.abs() * batch.response_mask).sum() / batch.response_mask.sum().clamp_min(1)
        )
        metrics.update(self.learner.update(batch, advantages, old, ref))
        return metrics

    # ---- evaluation and saving ------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Metrics on data.eval. Sampling draws from a generator seeded by the step, then the training
        stream is put back: evaluating (or not, or more often) never changes what training samples."""
        if not self.eval_samples:
            return {}
        training_stream = self.engine.generator.get_state()
        self.engine.generator.manual_seed(self.cfg.trainer.seed + 1_000_003 * (self.step + 1))
        try:
            return evaluate(
                self.engine, self.eval_samples, self.router, eval_params(self.cfg), self.cfg.eval.k
            )
        finally:
            self.engine.generator.set_state(training_stream)

    def save_checkpoint(self) -> Path:
        """A complete checkpoint of this step in run_dir/checkpoints (written once per step)."""
        if self._checkpoint_step != self.step:
            state = CheckpointState(
                step=self.step,
                optimizer=self.learner.optimizer.state_dict(),
                scheduler=self.learner.scheduler.state_dict(),
                rng=rng_state(self.engine.generator),
                sampler=self.sampler.state_dict(),
                counters=self.learner.counters(),
                extra={
                    "reference_reset": self.reset_policy.state_dict(),
                    "param_schedules": [p.schedule.state_dict() for p in self.param_schedules],
                },
                tensors=self._reference_tensors(),
                fingerprint=self.fingerprint,
                config=self.cfg.model_dump(mode="json"),
            )
            keep = self.cfg.trainer.keep_last
            self.last_checkpoint = save_checkpoint(self.run_dir, self.model, self.tokenizer, state, keep)
            self._checkpoint_step = self.step
        assert self.last_checkpoint is not None
        return self.last_checkpoint

    def _restore(self, ckpt: Checkpoint) -> None:
        """Put every piece of state back as the checkpoint saw it; drop what the run wrote after it."""
        load_weights(self.model, ckpt)
        self.learner.optimizer.load_state_dict(ckpt.state.optimizer)
        self.learner.scheduler.load_state_dict(ckpt.state.scheduler)
        self.learner.load_counters(ckpt.state.counters)
        if "reference_reset" in ckpt.state.extra:
            self.reset_policy.load_state_dict(ckpt.state.extra["reference_reset"])
        for schedule, state in zip(
            self.param_schedules, ckpt.state.extra.get("param_schedules", []), strict=False
        ):
            schedule.schedule.load_state_dict(state)
        if "reference" in ckpt.state.tensors and isinstance(self.learner.reference, torch.nn.Module):
            self.learner.reference.load_state_dict(ckpt.state.tensors["reference"])
        self.sampler.load_state_dict(ckpt.state.sampler)
        set_rng_state(ckpt.state.rng, self.engine.generator)
        self.step = self._checkpoint_step = ckpt.state.step
        self.last_checkpoint = ckpt.path
        discard_after(self.run_dir, self.step)
        truncate_logs(self.run_dir, self.step)

    def save(self, path: Path) -> Path:
        """The policy (or its LoRA adapter) and tokenizer, loadable with from_pretrained."""
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path

    def close(self) -> None:
        detach_run_log(self._log_handler)
        self.logger.close()
        self.router.close()
