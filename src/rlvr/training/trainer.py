"""The RL loop: sample prompts -> generate -> score -> advantages -> update -> log.

The trainer looks every piece of math up by name (``ADVANTAGES.get(cfg.algorithm.advantage)``); it
never branches on which algorithm it runs. Each stage passes plain data to the next.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rlvr.algorithms import ADVANTAGES, kl_penalty
from rlvr.config import RunConfig
from rlvr.data.sample import Sample
from rlvr.data.sampler import PromptSampler
from rlvr.data.specs import load_dataset_specs
from rlvr.eval.evaluate import evaluate
from rlvr.models.load import frozen_copy, load_model, load_tokenizer
from rlvr.rewards.completions import score_completions
from rlvr.rewards.router import RewardRouter
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.tracking.logger import MetricsLogger
from rlvr.tracking.run_dir import new_run_dir, write_config
from rlvr.training.batch import collate, last_token_rewards
from rlvr.training.learner import Learner
from rlvr.training.rollout_metrics import rollout_metrics
from rlvr.training.seeding import seed_everything

log = logging.getLogger(__name__)


class NonFiniteError(RuntimeError):
    """Too many consecutive updates with a NaN/inf loss or gradient."""


def sampling_params(cfg: RunConfig) -> SamplingParams:
    fields = SamplingParams.model_fields
    return SamplingParams(**{k: v for k, v in cfg.rollout.model_dump().items() if k in fields})


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
        self.run_dir = Path(run_dir) if run_dir else new_run_dir(cfg.trainer.output_dir, cfg.name, cfg.trainer.run_name)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_config(self.run_dir, cfg)

        self.tokenizer = load_tokenizer(cfg.model)
        self.model = load_model(cfg.model, self.tokenizer)
        self.engine = HFEngine(self.model, self.tokenizer, cfg.rollout.max_batch_size, seed=cfg.trainer.seed)
        self.router = RewardRouter(max_workers=cfg.reward.workers, timeout_s=cfg.reward.timeout_s)
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
        self.sampler = PromptSampler(len(self.train_samples), cfg.trainer.prompts_per_step, seed=cfg.trainer.seed)
        self.logger = MetricsLogger(self.run_dir)
        self.step = 0

    def _reference(self):
        """The frozen reference policy, only when a KL term needs it (kl_coef > 0)."""
        if self.cfg.algorithm.kl_coef == 0:
            return None
        if self.cfg.model.lora is not None:
            return "adapter"  # the base model with the adapter disabled
        return frozen_copy(self.model)

    # ---- the loop -------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        cfg = self.cfg.trainer
        bar = tqdm(total=cfg.steps, initial=self.step, desc="rl", disable=not self.show_progress, dynamic_ncols=True)
        try:
            while self.step < cfg.steps:
                metrics = self.train_step()
                self.step += 1
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                    metrics.update(self.evaluate())
                if self.step % cfg.log_every == 0:
                    self.logger.log(self.step, metrics)
                if cfg.save_every and self.step % cfg.save_every == 0:
                    self.save(self.run_dir / f"step-{self.step}")
                bar.update(1)
                bar.set_postfix(
                    reward=f"{metrics['reward/all/reward_mean']:.3f}",
                    step_s=f"{metrics['perf/step_s']:.2f}",
                    tok_s=f"{metrics['perf/gen_tokens_per_s']:.0f}",
                )
        finally:
            bar.close()
        final = self.evaluate() if self.eval_samples else {}
        if final:
            self.logger.log(self.step, final)
        self.save(self.run_dir / "final")
        return final

    def train_step(self) -> dict[str, float]:
        """One step of the loop on the next batch of prompts; returns its metrics."""
        t0 = time.perf_counter()
        samples = [self.train_samples[i] for i in self.sampler.next_batch()]
        completions = self.engine.generate(encode_prompts(self.tokenizer, samples), sampling_params(self.cfg))
        t_gen = time.perf_counter()
        requests, results = score_completions(self.router, samples, completions)
        t_reward = time.perf_counter()

        batch = collate(completions, self.tokenizer.pad_token_id)
        errored = torch.tensor([r.error is not None for r in results])
        batch.response_mask[errored] = 0.0  # a failed verification trains nothing, and is counted
        scores = torch.tensor([0.0 if r.error else r.score for r in results])
        rows = torch.arange(batch.size)
        group_index = torch.where(errored, batch.size + rows, torch.tensor([c.prompt_index for c in completions]))

        metrics = self._update(batch, scores, group_index)
        t_update = time.perf_counter()

        gen_tokens = sum(len(c.token_ids) for c in completions)
        metrics.update(rollout_metrics(completions, requests, results))
        metrics.update(
            {
                "perf/gen_s": t_gen - t0,
                "perf/reward_s": t_reward - t_gen,
                "perf/update_s": t_update - t_reward,
                "perf/step_s": t_update - t0,
                "perf/gen_tokens": float(gen_tokens),
                "perf/gen_tokens_per_s": gen_tokens / max(t_gen - t0, 1e-9),
            }
        )
        if self.learner.nonfinite_streak >= self.cfg.trainer.max_nonfinite_steps:
            self.save(self.run_dir / "last-good")
            raise NonFiniteError(
                f"{self.learner.nonfinite_streak} consecutive steps had a NaN/inf loss or gradient and were "
                f"skipped; stopped at step {self.step + 1}. Try a lower optim.lr or a smaller optim.max_grad_norm."
            )
        return metrics

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
        if not self.eval_samples:
            return {}
        return evaluate(self.engine, self.eval_samples, self.router, eval_params(self.cfg), self.cfg.eval.k)

    def save(self, path: Path) -> Path:
        """The policy (or its LoRA adapter) and tokenizer, loadable with from_pretrained."""
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path

    def close(self) -> None:
        self.logger.close()
        self.router.close()
