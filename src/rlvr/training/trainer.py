"""The RL loop: sample prompts -> generate -> score -> advantages -> update -> log -> checkpoint.

The trainer orchestrates; the learner role (:mod:`rlvr.training.roles`) looks every piece of math up by
name (``ADVANTAGES.get(cfg.algorithm.advantage)``) and never branches on which algorithm it runs. Each
stage passes plain data to the next, so the roles can live in this process or in Ray actors
(:mod:`rlvr.distributed`) without changing a line here.

A run can be killed at any moment and resumed (``trainer.resume``): checkpoints (see
:mod:`rlvr.training.checkpoint`) hold every piece of state a step reads, so the resumed run continues with
the same batches, the same random draws and the same weights as if it had never stopped. SIGINT / SIGTERM
finish the current step and write a checkpoint before the run exits; a second one aborts at once.
"""

from __future__ import annotations

import logging
import signal
import time
from functools import partial
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rlvr.config import RunConfig
from rlvr.data.sample import Sample
from rlvr.data.sampler import PromptSampler
from rlvr.data.specs import load_dataset_specs
from rlvr.eval.evaluate import evaluate
from rlvr.models.load import load_tokenizer
from rlvr.rewards.async_scoring import submit
from rlvr.rewards.completions import score_requests
from rlvr.rewards.param_schedules import ParamSchedule
from rlvr.rewards.schedules import ThresholdSchedule
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.tracking.logger import truncate_logs
from rlvr.tracking.run_dir import attach_run_log, detach_run_log, new_run_dir, write_config
from rlvr.tracking.sinks import build_sinks
from rlvr.training.batch import collate
from rlvr.training.checkpoint import (
    Checkpoint,
    CheckpointState,
    check_compatible,
    dataset_fingerprint,
    discard_after,
    find_resume_checkpoint,
    rng_state,
    set_rng_state,
)
from rlvr.training.collect import RolloutBatch, collect
from rlvr.training.episode_rollout import EpisodeRollout, episode_targets, generate_mixed, split_by_env
from rlvr.training.filtering import FilterStage, filter_names
from rlvr.training.input_checks import prompt_lengths_checked
from rlvr.training.logged import LoggedDataset, load_logged
from rlvr.training.pipeline import RolloutPipeline
from rlvr.training.protocols import RoleFailed, Roles
from rlvr.training.reference_reset import ResetPolicy
from rlvr.training.rollout_log import truncate_logged, write_logged
from rlvr.training.rollout_metrics import monitor_metrics, rollout_metrics
from rlvr.training.sample_log import write_samples
from rlvr.training.seeding import seed_everything
from rlvr.training.signals import StopSignals

log = logging.getLogger(__name__)

ROLE_TIMINGS = (
    *("gen_s", "reward_wait_s", "logprob_s", "update_s"),
    *("weight_sync_s", "learner_idle_s", "rollout_idle_s"),
)
"""The per-role timings every training step logs, as ``perf/<name>`` (see docs/distributed.md)."""


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
    """Runs the loop of a RunConfig with the roles it is handed. ``fit()`` returns the final eval metrics.

    ``roles`` (learner, rollout, reward; see :mod:`rlvr.training.protocols`) may live in this process or
    in Ray actors (:func:`rlvr.distributed.placement.build_roles` builds either); the trainer owns them from
    here on and closes them in :meth:`close` (or at once, when its own set-up fails). With
    ``trainer.max_staleness = k > 0`` generation runs up to k batches ahead of the learner on a rollout
    thread (one-step-off for k = 1); weights go to the rollout workers after every update, queued behind
    the generation already under way.
    """

    def __init__(
        self, cfg: RunConfig, roles: Roles, run_dir: str | Path | None = None, show_progress: bool = True
    ) -> None:
        self.roles = roles
        try:
            self._setup(cfg, run_dir, show_progress)
        except BaseException:
            roles.close()
            raise

    def _setup(self, cfg: RunConfig, run_dir: str | Path | None, show_progress: bool) -> None:
        self.cfg = cfg
        self.show_progress = show_progress
        seed_everything(cfg.trainer.seed)
        t = cfg.trainer
        self.tokenizer = load_tokenizer(cfg.model)
        with prompt_lengths_checked(self.tokenizer, cfg.model, cfg.rollout.max_new_tokens):
            self.train_samples: list[Sample] = load_dataset_specs(cfg.data.train)
        self.logged: LoggedDataset | None = None  # offline RL: logged rollouts instead of generation
        if cfg.data.logged:  # config_rules.logged_is_synchronous: no staleness
            self.logged = load_logged(cfg.data.logged, self.tokenizer, seed=t.seed)
            self.fingerprint = self.logged.fingerprint()
        elif not self.train_samples:
            raise ValueError("data.train is empty: an RL run needs prompts (or data.logged rollouts)")
        else:
            self.fingerprint = dataset_fingerprint(self.train_samples)
        self.eval_samples: list[Sample] = load_dataset_specs(cfg.data.eval) if cfg.data.eval else []
        if (t.max_staleness or self.logged) and cfg.algorithm.tis_cap is None:
            log.warning(
                "%s without algorithm.tis_cap: off-policy batches are not importance-corrected "
                "(set algorithm.tis_cap, e.g. 2.0)",
                "data.logged" if self.logged else f"trainer.max_staleness={t.max_staleness}",
            )
        resume = find_resume_checkpoint(t.resume, t.output_dir, t.run_name or cfg.name)
        if resume is not None:
            check_compatible(resume, cfg.model_dump(mode="json"), self.fingerprint, t.resume_force)
            run_dir = resume.run_dir  # a resumed run continues in its own directory
        self.run_dir = Path(run_dir) if run_dir else new_run_dir(t.output_dir, cfg.name, t.run_name)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_config(self.run_dir, cfg)
        self._log_handler = attach_run_log(self.run_dir)

        self.param_schedules = [
            ParamSchedule(p.param, p.verifiers, ThresholdSchedule(p.boundaries, p.values))
            for p in cfg.reward.schedules
        ]
        self.reset_policy = ResetPolicy(cfg.reference_reset)  # with a reference: config_rules.reset_needs_kl
        self.filters = FilterStage(filter_names(cfg))
        self.episodes = EpisodeRollout(cfg.multiturn, self.tokenizer)  # samples with an env: multi-turn
        if self.filters.collects and split_by_env(self.train_samples)[0]:
            raise ValueError(
                "dynamic sampling (a collect-stage filter) does not support multi-turn (env) samples yet"
            )
        self.sampler = PromptSampler(max(len(self.train_samples), 1), batch_size=1, seed=cfg.trainer.seed)
        self.step = 0
        self.last_checkpoint: Path | None = None
        self._checkpoint_step = -1
        self.stopped_by: signal.Signals | None = None  # set when a signal ended fit() early
        self.failed: str | None = None  # set when a role died beyond its restarts
        self._pipeline = RolloutPipeline(self._collect, t.max_staleness, snapshot=self._resume_snapshot)
        if resume is not None:
            self._restore(resume)  # before the logger opens metrics.jsonl, which it truncates
        pool = self.roles.rollout  # the rollout workers start from the learner's (possibly resumed) weights
        pool.sync(None if pool.shares_learner_model else self.roles.learner.weights(), self.step)
        self.logger = build_sinks(cfg.tracking, self.run_dir, self.run_dir.name, cfg.model_dump(mode="json"))

    # ---- the loop -------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Train up to trainer.steps and return the final eval metrics; {} when a signal stopped it early
        (``stopped_by`` says which, ``last_checkpoint`` where it can be resumed from) or a role died
        beyond its restarts (``failed`` says how)."""
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
                    if self.roles.learner.nonfinite_streak() >= cfg.max_nonfinite_steps:
                        self._stop_nonfinite()
                    bar.update(1)
                    bar.set_postfix(
                        reward=f"{metrics.get('reward/all/reward_mean', float('nan')):.3f}",
                        step_s=f"{metrics['perf/step_s']:.2f}",
                        tok_s=f"{metrics['perf/gen_tokens_per_s']:.0f}",
                    )
            except RoleFailed as e:
                self.failed = str(e)
                log.error("%s; stopping after step %d", e, self.step)
            finally:
                bar.close()
                self._pipeline.stop()
            self._final_checkpoint()
        if stop.received is not None or self.failed is not None:
            self.stopped_by = stop.received
            log.warning(
                "stopped %s after step %d; checkpoint %s. Continue with `rlvr train <recipe> --resume %s`.",
                f"by {stop.received.name}" if stop.received is not None else "because a role failed",
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

    def _final_checkpoint(self) -> None:
        """At exit, whether the run ended, a signal stopped it or a role died (if the learner is alive)."""
        try:
            self.save_checkpoint()
        except RoleFailed as e:
            log.error("no checkpoint at exit (%s); the last one is %s", e, self.last_checkpoint)

    def train_step(self) -> dict[str, float]:
        """One step of the loop: take a scored batch (generated now, or ahead of time by the pipeline),
        update the policy, send the new weights to the rollout workers; returns the step's metrics."""
        t0 = time.perf_counter()
        busy0 = self._pipeline.busy_s
        rollouts, perf = self._pipeline.next_batch(self.step, self.cfg.trainer.steps)
        waited = time.perf_counter() - t0
        f = self.cfg.filters
        metrics = dict(rollouts.stats)
        if self.cfg.monitor.log_rollouts and self.logged is None and rollouts.completions:
            version = int(perf.get("async/policy_version", self.step))
            write_logged(self.run_dir / "rollouts.jsonl", rollouts, self.tokenizer, self.step + 1, version)
        if rollouts.completions:
            if self.logged is None:
                metrics.update(self._staleness(perf))
            batch, scores, group_index, removed = self._to_tensors(rollouts)
            metrics.update(removed)
            if rollouts.trajectories is None:
                metrics.update(self.roles.learner.train_on(batch, scores, group_index))
            else:  # multi-turn rows: token rewards and trajectories
                episodes = episode_targets(rollouts, batch)
                metrics.update(self.roles.learner.train_on(batch, scores, group_index, episodes=episodes))
            metrics.update(rollout_metrics(rollouts.completions, rollouts.requests, rollouts.results))
            metrics.update(monitor_metrics(rollouts, self.cfg.monitor))
        else:  # dynamic sampling found no informative group within its rounds: nothing to learn from
            log.warning(
                "step %d: no informative group after %d rounds; update skipped", self.step + 1, f.max_rounds
            )
            metrics["train/skipped_updates"] = 1.0
        self._pipeline.send_weights(self.roles, self.step + 1)
        every = self.cfg.monitor.log_samples_every
        if every and (self.step + 1) % every == 0 and rollouts.completions:
            write_samples(
                self.run_dir, self.step + 1, rollouts, self.tokenizer, self.cfg.monitor.samples_per_log
            )
        step_s = time.perf_counter() - t0
        metrics.update({k: v for k, v in perf.items() if k.startswith("perf/")})
        metrics["perf/step_s"] = step_s
        metrics["perf/learner_idle_s"] = waited if self._pipeline.depth else 0.0
        metrics["perf/weight_sync_s"] = self._pipeline.last_sync_s
        metrics["perf/rollout_idle_s"] = max(0.0, step_s - (self._pipeline.busy_s - busy0))
        metrics["perf/gen_tokens_per_s"] = perf["perf/gen_tokens"] / max(perf["perf/gen_s"], 1e-9)
        return metrics

    def _resume_snapshot(self) -> tuple[dict, list | None]:
        """The sampler position and the rollout workers' sampling streams: where collecting a batch starts.
        A dead rollout worker's stream is lost (None): a resumed run then re-seeds the workers."""
        try:
            engines = self.roles.rollout.generator_states()
        except RoleFailed as e:
            log.warning("the rollout workers' sampling streams are not in this checkpoint: %s", e)
            engines = None
        return (self.logged or self.sampler).state_dict(), engines

    def _staleness(self, perf: dict[str, float]) -> dict[str, float]:
        """How many updates behind the learner the batch's behaviour policy is (0 when on-policy)."""
        version = perf.get("async/policy_version", float(self.step))
        return {"async/staleness": float(self.step) - version, "async/policy_version": version}

    def _collect(self, step_index: int) -> tuple[RolloutBatch, dict[str, float]]:
        """The scored batch that step ``step_index`` (0-based) trains on, and its rollout figures."""
        perf = {"perf/gen_s": 0.0, "perf/reward_wait_s": 0.0, "perf/gen_tokens": 0.0}
        f = self.cfg.filters
        t0 = time.perf_counter()
        if self.logged is not None:  # offline: the next groups of the logged file, nothing generated
            rollouts = self.logged.next_batch(self.cfg.trainer.prompts_per_step)
        else:
            rollouts = collect(
                self._next_prompts,
                partial(self._generate_and_score, step_index=step_index, perf=perf),
                target_groups=self.cfg.trainer.prompts_per_step,
                keep_groups=self.filters.kept_groups if self.filters.collects else None,
                max_rounds=f.max_rounds,
                oversample=f.oversample,
            )
        perf["perf/rollout_s"] = time.perf_counter() - t0
        return rollouts, perf

    def _next_prompts(self, k: int) -> list[Sample]:
        """The next k prompts in the sampler's order (epochs reshuffle; nothing is skipped or buffered,
        so the sampler's position alone says where a resumed run continues)."""
        return [self.train_samples[self.sampler.next_batch()[0]] for _ in range(k)]

    def _generate_and_score(
        self, samples: list[Sample], step_index: int, perf: dict[str, float]
    ) -> RolloutBatch:
        """n completions per prompt; each chunk of completions is scored while the next one generates.
        Samples with an ``env`` are played as episodes instead (:mod:`rlvr.training.episode_rollout`)."""
        if any(s.env is not None for s in samples):
            single = partial(self._generate_and_score, step_index=step_index, perf=perf)
            params, prefix = self.cfg.rollout.sampling_params(), f"step{step_index + 1}/"
            play = partial(
                self.episodes.collect,
                self.roles.rollout.generate,
                params=params,
                key_prefix=prefix,
                perf=perf,
            )
            return generate_mixed(samples, single, lambda s: play(samples=s))
        progress = step_index / self.cfg.trainer.steps
        prefix = f"step{step_index + 1}/"
        completions, requests, pending = [], [], []
        t0 = time.perf_counter()
        prompts = encode_prompts(self.tokenizer, samples)
        for chunk, info in self.roles.rollout.generate_chunks(prompts, self.cfg.rollout.sampling_params()):
            reqs = score_requests(samples, chunk, key_prefix=prefix)
            for schedule in self.param_schedules:
                reqs = schedule.apply(reqs, progress)
            pending.append(submit(self.roles.reward, reqs))
            completions.extend(chunk)
            requests.extend(reqs)
            perf["perf/gen_s"] += info["gen_s"]
            perf["perf/gen_tokens"] += info["tokens"]
            version = perf.get("async/policy_version", info["version"])
            perf["async/policy_version"] = min(version, info["version"])
        t_gen = time.perf_counter()
        results = [r for future in pending for r in future.result()]
        perf["perf/reward_wait_s"] += time.perf_counter() - t_gen
        perf["perf/gen_wall_s"] = perf.get("perf/gen_wall_s", 0.0) + t_gen - t0
        return RolloutBatch(list(samples), completions, requests, results)

    def _to_tensors(self, rollouts: RolloutBatch):
        """The token batch, scores (B,), group index (B,) and what each loss filter removed: rows the loss
        filters drop (errored; truncated, with overlong filtering) are masked out of the loss, and those
        with unknown scores (errored) are kept out of their group's statistics (a group of their own)."""
        batch = collate(rollouts.completions, self.tokenizer.pad_token_id)
        keep, in_groups, removed = self.filters.loss_masks(rollouts)
        batch.response_mask[~keep] = 0.0
        scores = torch.tensor([0.0 if r.error else r.score for r in rollouts.results])
        rows = torch.arange(batch.size)
        prompt = torch.tensor([c.prompt_index for c in rollouts.completions])
        return batch, scores, torch.where(in_groups, prompt, batch.size + rows), removed

    def _maybe_reset_reference(self, metrics: dict[str, float]) -> dict[str, float]:
        """ProRL: pi_ref <- pi_theta and fresh optimizer moments, when the reset policy says so."""
        reason = self.reset_policy.observe(self.step, metrics)
        if reason is None:
            return {}
        self.roles.learner.reset_reference()
        log.info("step %d: reference policy reset (%s)", self.step, reason)
        return {"train/reference_reset": 1.0}

    def _stop_nonfinite(self) -> None:
        """Checkpoint the last good state and raise NonFiniteError. A skipped update changes no weight, so the
        current weights are those of the last good update."""
        streak = self.roles.learner.nonfinite_streak()
        checkpoint = self.save_checkpoint()
        last_good = self.save(self.run_dir / "last-good")
        raise NonFiniteError(
            f"{streak} consecutive steps had a NaN/inf loss or gradient and their updates "
            f"were skipped; stopped after step {self.step}. The weights are those of the last good update: "
            f"checkpoint {checkpoint}, model {last_good}. Try a lower optim.lr or a smaller optim.max_grad_norm, "
            f"and continue with `rlvr train <recipe> --resume {self.run_dir} --force-resume optim.lr=...`."
        )

    # ---- evaluation and saving ------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Metrics on data.eval with the current weights. Sampling draws from a generator seeded by the step,
        then the training stream is put back: evaluating (or not, or more often) never changes what training
        samples. With a pipeline, evaluation queues behind the generation under way."""
        if not self.eval_samples:
            return {}
        return self._pipeline.on_rollout_thread(self._evaluate_now)

    def _evaluate_now(self) -> dict[str, float]:
        pool = self.roles.rollout
        training_streams = pool.generator_states()
        pool.seed_generators(self.cfg.trainer.seed + 1_000_003 * (self.step + 1))
        try:
            with_env, without = split_by_env(self.eval_samples)
            metrics = {}
            if with_env:
                episodes = [self.eval_samples[i] for i in with_env]
                metrics.update(self.episodes.evaluate(pool.generate, episodes, eval_params(self.cfg)))
            if without:
                single = [self.eval_samples[i] for i in without]
                metrics.update(
                    evaluate(pool, single, self.roles.reward, eval_params(self.cfg), self.cfg.eval.k)
                )
            return metrics
        finally:
            pool.set_generator_states(training_streams)

    def save_checkpoint(self) -> Path:
        """A complete checkpoint of this step in run_dir/checkpoints (written once per step). With a
        pipeline, the sampler and sampling streams are those from before the oldest batch in flight: a
        resumed run generates that batch again (with the newest weights)."""
        if self._checkpoint_step != self.step:
            sampler, engines = self._pipeline.resume_point()
            state = CheckpointState(
                step=self.step,
                rng=rng_state(engines),
                sampler=sampler,
                extra={
                    "reference_reset": self.reset_policy.state_dict(),
                    "param_schedules": [p.schedule.state_dict() for p in self.param_schedules],
                },
                fingerprint=self.fingerprint,
                config=self.cfg.model_dump(mode="json"),
            )
            with_reference = (
                self.reset_policy.last_reset > 0
            )  # only once a reset made it differ from the start
            self.last_checkpoint = self.roles.learner.save_checkpoint(
                self.run_dir, state, self.cfg.trainer.keep_last, with_reference
            )
            self._checkpoint_step = self.step
        assert self.last_checkpoint is not None
        return self.last_checkpoint

    def _restore(self, ckpt: Checkpoint) -> None:
        """Put every piece of state back as the checkpoint saw it; drop what the run wrote after it."""
        self.roles.learner.restore(ckpt)
        if "reference_reset" in ckpt.state.extra:
            self.reset_policy.load_state_dict(ckpt.state.extra["reference_reset"])
        for schedule, state in zip(
            self.param_schedules, ckpt.state.extra.get("param_schedules", []), strict=False
        ):
            schedule.schedule.load_state_dict(state)
        if self.logged is not None:
            self.logged.load_state_dict(
                ckpt.state.sampler, check_fingerprint=not self.cfg.trainer.resume_force
            )
        else:
            self.sampler.load_state_dict(ckpt.state.sampler)
        engines = set_rng_state(ckpt.state.rng)
        if engines is None:  # the run stopped on a dead rollout worker, whose stream was lost with it
            log.warning("checkpoint %s has no sampling streams; re-seeding the rollout workers", ckpt.path)
            self.roles.rollout.seed_generators(self.cfg.trainer.seed + 1_000_033 * ckpt.state.step)
        else:
            self.roles.rollout.set_generator_states(engines)
        self.step = self._checkpoint_step = ckpt.state.step
        self.last_checkpoint = ckpt.path
        discard_after(self.run_dir, self.step)
        truncate_logs(self.run_dir, self.step)
        truncate_logged(self.run_dir / "rollouts.jsonl", self.step)

    def save(self, path: Path) -> Path:
        """The policy (or its LoRA adapter) and tokenizer, loadable with from_pretrained."""
        return self.roles.learner.save(path)

    def close(self) -> None:
        self._pipeline.stop()
        self.episodes.close()
        detach_run_log(self._log_handler)
        self.logger.close()
        self.roles.close()
