"""rlvr vs TRL's GRPOTrainer: the same tiny model, prompts and GRPO settings, timed in one run.

    pip install -e ".[bench]" torch==<the installed version>   # trl, for this script only
    python benchmarks/vs_trl.py                    # defaults: ~1 minute on a quiet 2-core CPU
    python benchmarks/vs_trl.py --steps 60 --prompts 64 --n 8 --max-new-tokens 10 --seed 1

What the script does, in order:

1. Builds the quickstart's tiny Llama-style model once (``rlvr.models.tiny.save_tiny``) into a temporary
   directory and warms it up with rlvr's ``run_sft`` on digit_sort demonstrations, so that rewards are
   not all zero. Both trainers load this one SFT checkpoint (through rlvr's ``load_model``), so they
   start from the same weights.
2. Builds rlvr's ``RLTrainer`` (the quickstart recipe with overrides) and TRL's ``GRPOTrainer`` and
   trains both for the same number of steps, on the same prompts in the same order (TRL gets a dataset
   laid out in the order rlvr's ``PromptSampler`` draws, with ``shuffle_dataset=False``), with the same
   group size, completion length, batch, optimizer and loss. By default the steps are interleaved:
   rlvr's step i runs right after TRL's step i (from TRL's ``on_step_end`` callback), so that load
   from other processes on a shared machine falls on both alike; ``--schedule sequential`` runs all of
   rlvr's steps first. rlvr is stepped as ``RLTrainer.fit`` steps it (``train_step``, then the metrics
   logger), with evaluation and periodic saving off.
3. Evaluates both final models (and the SFT start) on the same 300 held-out digit_sort problems with
   the same code: rlvr's ``load_model`` + ``HFEngine`` + ``evaluate``, greedy, one sample each.
4. Prints seconds per step, the learning curves and a summary table, and writes everything as JSON
   (``--output``).

Timing: rlvr's step is the wall time of ``RLTrainer.train_step`` (generate, score, collate,
advantages, update); TRL's is the wall time between the ``on_step_begin`` and ``on_step_end``
callbacks, which spans ``_prepare_inputs`` (generate, score, advantages) and the forward, backward,
clipping and optimizer step. Neither includes metric logging. The table reports the median over steps
2..N (step 1 is warm-up); mean, min and the median process CPU time (all threads, less sensitive to
other load than wall time) are printed too. Both use 2 torch threads, float32, on the CPU.

Settings matched (rlvr name = TRL name):
    rollout.n = num_generations; trainer.prompts_per_step * rollout.n = per_device_train_batch_size
    (= generation_batch_size, steps_per_generation=1, gradient_accumulation_steps=1); trainer.steps =
    max_steps; rollout.max_new_tokens = max_completion_length; rollout.temperature=1.0, top_p=1,
    top_k=0 = temperature, top_p, top_k; optim.lr = learning_rate with a constant schedule, no warm-up,
    AdamW(0.9, 0.999, eps 1e-8, no weight decay) = adamw_torch; optim.max_grad_norm=1.0 =
    max_grad_norm; algorithm.kl_coef=0 = beta=0 (no reference model in either); trainer.ppo_epochs=1,
    one mini-batch = num_iterations=1 (both then use the detached current log-probs as pi_old, so the
    ratio is 1 and clipping is inert); eps_low 0.2 / eps_high 0.28 = epsilon / epsilon_high;
    advantage grpo with std scaling = scale_rewards="group"; loss_agg token_mean = loss_type "dapo"
    (both divide the summed token loss by the number of response tokens in the whole batch: with one
    accumulation step TRL's num_items_in_batch is exactly that count); no masking of truncated
    completions in either = mask_truncated_completions=False; the reward is rlvr's own exact_match
    verifier, called through rlvr's RewardRouter from a TRL reward function; bf16/fp16 off,
    gradient_checkpointing off (TRL turns it on by default), use_cpu=True, no eval, no saving during
    training, logging every step, one forward/backward over the whole batch in both
    (trainer.micro_batch_size = batch size); rlvr's dynamic sampling and overlong filtering off.
    ``benchmarks/check_objective.py`` checks the match: on one batch and the same weights the two
    losses' gradients agree to about 3e-4 relative (the advantage epsilon below).

Settings that are not matched exactly, and why:
    * Random streams. rlvr samples with its own torch.Generator, TRL with transformers' ``generate``
      on the global RNG; the completions differ, so the reward curves are two samples of the same
      process, not identical runs. Run several --seed values before reading much into a few points.
    * Advantage epsilon: rlvr divides by (std + 1e-6), TRL by (std + 1e-4); both use the unbiased
      group std. With 0/1 rewards a group of n with non-zero std has std >= sqrt(1/n) (0.35 for n = 8),
      so the advantages differ by under 0.03%. Neither has a setting for the other's epsilon.
    * Log-prob kernels: rlvr materialises the (B, R, V) logits and takes log_softmax; TRL 1.x patches
      the model with its fused LM head (chunked log-probs and entropies). Same math, different kernels.
      Attention too: rlvr's learner runs passes of at most 64 positions on CPU with transformers' eager
      attention (``rlvr.models.attention``), TRL and both generators with SDPA.
    * Position ids: rlvr passes position ids derived from the attention mask; TRL passes only the
      mask. All digit_sort prompts have the same length (no left padding), so positions coincide.
    * Generation: rlvr's ``HFEngine`` is its own KV-cached sampling loop, running this Llama model through
      rlvr's lean decoder (the model's own modules without transformers' per-call machinery; same
      log-probs, tests/models/test_fast_decoder.py); TRL calls ``model.generate``
      (with ``disable_compile=True``). Both stop a sequence at EOS and a batch when all have stopped.
      rlvr prefills each distinct prompt once and gathers its KV cache to the group's n rows, and drops
      finished rows from the decode batch; TRL prefills all n copies. The sampled distribution is the
      same (rlvr draws by inverse CDF, TRL with torch.multinomial).
    * Less work in the update, same gradient (docs/performance.md): rlvr's learner runs each distinct
      prompt once (its KV cache and last logits, with gradients, gathered to the n completions), then
      the responses but their last token (never an input) in at most two passes trimmed to their own
      longest response, and leaves out rows whose advantage is 0 everywhere (a group with equal
      rewards: its loss terms and gradients are exactly 0; the loss still divides by every row's tokens;
      trainer.skip_zero_advantage). TRL runs all B x (prompt + completion) positions. Same log-probs,
      loss and gradients up to float rounding (tests/training/test_shared_prefix.py,
      tests/training/test_skip_zero_advantage.py). With skipped rows, rlvr's update metrics (entropy,
      ratios, clip fractions) are over the rows it trained on.
    * Optimizer kernels: rlvr's AdamW is PyTorch's fused one, TRL's adamw_torch the default loop; the
      same update to float rounding.
    * Nothing is compiled on either side. rlvr has no torch.compile path: on this 2-core CPU compiling
      the learner's model took ~2 minutes for ~20% off the update, and compiling generation ~2 minutes
      for ~20% off it, against ~5 s for all 30 steps. ``train_wall_s`` (all steps, step 1 included)
      is reported next to the steady-state medians all the same.
    * Entropy: both compute per-token entropy as a metric during the update (not in the loss).
    * rlvr's train_step also computes its monitoring metrics (reflection words, lengths per source)
      and writes 16 sample rollouts every 10 steps (monitor.log_samples_every, its default); TRL
      gathers its own metrics. Each side's defaults are kept and timed.
    * The TRL trainer also runs HF Trainer machinery (accelerate wrapping, callbacks, metric
      gathering); that is part of what is being measured, since it is what a TRL user runs.
    * Evaluation: both final models are saved and reloaded and evaluated by rlvr's code, so the
      held-out numbers are comparable; TRL's own evaluation loop is not used.
    * Machine noise: on a shared 2-core machine other processes change timings (two OpenMP threads
      that lose a core to another process can run several times slower). Steps are interleaved and
      medians reported; each step also records the share of the machine's CPU that other processes
      used meanwhile (Linux), and ``paired_ratio_quiet_median`` is the median ratio over the steps
      where both sides saw under 20% of it (coarse: clock ticks are 10 ms; rlvr's reward workers, if
      any, count as other processes). Compare ratios from one run of this script, not absolute seconds
      across runs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rlvr.config import ModelConfig, RunConfig, load_config
from rlvr.data.sample import Sample
from rlvr.data.sampler import PromptSampler
from rlvr.data.specs import load_dataset_specs
from rlvr.distributed.placement import build_roles
from rlvr.eval.evaluate import evaluate
from rlvr.models.load import load_model, load_tokenizer, quiet_transformers
from rlvr.models.tiny import save_tiny
from rlvr.quickstart import quickstart_recipe
from rlvr.rewards.router import RewardRouter, ScoreRequest
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.types import SamplingParams
from rlvr.training.sft import run_sft
from rlvr.training.trainer import RLTrainer

THREADS = 2
REWARD_KEY = "reward/all/reward_mean"


def parse_args(argv: list[str] | None = None, parents: tuple = ()) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], parents=list(parents))
    p.add_argument("--steps", type=int, default=30, help="RL steps for each trainer")
    p.add_argument("--prompts", type=int, default=16, help="prompts per step")
    p.add_argument("--n", type=int, default=8, help="completions per prompt (group size)")
    p.add_argument("--max-new-tokens", type=int, default=10, help="completion length limit")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate (the quickstart's)")
    p.add_argument("--sft-steps", type=int, default=70, help="SFT warm-up steps (the quickstart's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--schedule",
        choices=["interleaved", "sequential"],
        default="interleaved",
        help="interleaved: rlvr's step i runs right after TRL's step i (fair on a shared machine)",
    )
    p.add_argument("--output", default="benchmarks/results/vs_trl.json", help="JSON results file")
    return p.parse_args(argv)


# ---- shared setup -------------------------------------------------------------------------------
def base_config(args: argparse.Namespace, workdir: Path) -> RunConfig:
    """The quickstart recipe with the benchmark's sizes; data.eval is left in (300 held-out problems)."""
    batch = args.prompts * args.n
    cfg = load_config(
        quickstart_recipe(),
        [
            f"trainer.steps={args.steps}",
            f"trainer.prompts_per_step={args.prompts}",
            f"trainer.micro_batch_size={batch}",
            f"trainer.seed={args.seed}",
            f"trainer.output_dir={workdir}",
            f"rollout.n={args.n}",
            f"rollout.max_new_tokens={args.max_new_tokens}",
            f"rollout.max_batch_size={max(batch, 300)}",
            "rollout.temperature=1.0",
            f"optim.lr={args.lr}",
            "optim.schedule=constant",
            "optim.warmup_steps=0",
            "algorithm.kl_coef=0.0",
            f"sft.steps={args.sft_steps}",
            f"model.num_threads={THREADS}",
            # pinned, since TRL is configured to mirror them
            "trainer.ppo_epochs=1",
            "algorithm.advantage=grpo",
            "algorithm.norm_adv_by_std=true",
            "algorithm.policy_loss=ppo_clip",
            "algorithm.loss_agg=token_mean",
            "algorithm.eps_low=0.2",
            "algorithm.eps_high=0.28",
            "algorithm.entropy_coef=0.0",
        ],
    )
    filters = getattr(cfg, "filters", None)  # newer rlvr: DAPO's dynamic sampling and overlong filtering
    if filters is not None:
        filters.dynamic_sampling = False  # TRL has no dynamic sampling
        filters.overlong = False  # = mask_truncated_completions=False
    return cfg


def sft_checkpoint(cfg: RunConfig, workdir: Path) -> Path:
    """Build the tiny model once, save it, SFT it with rlvr; both trainers start from the result."""
    init = save_tiny(cfg.model.tiny, workdir / "init")
    sft_cfg = cfg.model_copy(deep=True)
    sft_cfg.model.path, sft_cfg.model.tiny = str(init), None
    return run_sft(sft_cfg, workdir / "sft_run", show_progress=False)


def heldout_accuracy(model_dir: Path, samples: list[Sample], max_new_tokens: int) -> float:
    """Greedy accuracy of the model saved in model_dir, by rlvr's loader, engine and evaluate."""
    mcfg = ModelConfig(path=str(model_dir), device="cpu", num_threads=THREADS)
    tok = load_tokenizer(mcfg)
    model = load_model(mcfg, tok)
    router = RewardRouter()
    try:
        params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens)
        return evaluate(HFEngine(model, tok, max_batch_size=len(samples)), samples, router, params)[
            "eval/all/accuracy"
        ]
    finally:
        router.close()


def prompt_order(sampler: PromptSampler, count: int) -> list[int]:
    """The next ``count`` train-sample indices ``sampler`` will yield (drawn from a copy of it)."""
    sampler = copy.deepcopy(sampler)
    order: list[int] = []
    while len(order) < count:
        order.extend(sampler.next_batch())
    return order[:count]


class ForeignLoad:
    """Share of the machine's CPU time used by other processes between ``start`` and ``stop`` (from
    /proc/stat less this process's own time); None where /proc is missing."""

    def __init__(self) -> None:
        self.hz, self.cpus = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
        self._busy0 = self._own0 = 0

    @staticmethod
    def _busy() -> int:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait, in clock ticks

    @staticmethod
    def _own() -> int:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks

    def start(self) -> None:
        try:
            self._busy0, self._own0 = self._busy(), self._own()
        except OSError:
            self._busy0 = -1

    def stop(self, wall_s: float) -> float | None:
        if self._busy0 < 0:
            return None
        foreign = (self._busy() - self._busy0) - (self._own() - self._own0)
        return max(foreign, 0) / self.hz / max(wall_s * self.cpus, 1e-9)


# ---- rlvr ---------------------------------------------------------------------------------------
# rlvr's own timers of the parts of a step before the update (the names of older and newer rlvr)
RLVR_PARTS = ("perf/gen_s", "perf/reward_s", "perf/reward_wait_s", "perf/logprob_s")


class RlvrRun:
    """rlvr's RLTrainer, stepped as ``fit()`` steps it (train_step, then log); eval and saves are off."""

    def __init__(self, cfg: RunConfig, sft_dir: Path, workdir: Path) -> None:
        rl_cfg = cfg.model_copy(deep=True)
        rl_cfg.model.path, rl_cfg.model.tiny = str(sft_dir), None
        rl_cfg.data.eval = []  # both final models are evaluated afterwards by the same code
        self.trainer = RLTrainer(rl_cfg, build_roles(rl_cfg), run_dir=workdir / "rlvr", show_progress=False)
        self.step_s: list[float] = []
        self.cpu_s: list[float] = []  # process CPU time (all threads): less sensitive to other load
        self.foreign: list[float | None] = []  # CPU share other processes used during each step
        self.reward: list[float] = []
        self.parts: list[dict[str, float]] = []
        self._load = ForeignLoad()

    def step(self) -> None:
        self._load.start()
        t0, c0 = time.perf_counter(), time.process_time()
        metrics = self.trainer.train_step()
        self.step_s.append(time.perf_counter() - t0)
        self.cpu_s.append(time.process_time() - c0)
        self.foreign.append(self._load.stop(self.step_s[-1]))
        self.trainer.step += 1
        self.trainer.logger.log(self.trainer.step, metrics)
        self.reward.append(metrics[REWARD_KEY])
        parts = {k.removeprefix("perf/"): v for k, v in metrics.items() if k in RLVR_PARTS}
        parts["rest: collate, advantages, update"] = metrics["perf/step_s"] - sum(parts.values())
        self.parts.append(parts)

    def finish(self) -> Path:
        final = self.trainer.save(self.trainer.run_dir / "final")
        self.trainer.close()
        return final


# ---- TRL ----------------------------------------------------------------------------------------
def trl_config(cfg: RunConfig, workdir: Path):
    from trl import GRPOConfig

    batch = cfg.trainer.prompts_per_step * cfg.rollout.n
    return GRPOConfig(
        output_dir=str(workdir / "trl"),
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,  # TRL's default is True
        seed=cfg.trainer.seed,
        # batch: one generation of prompts_per_step x n per optimizer step, one pass over it
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_generations=cfg.rollout.n,
        num_iterations=1,
        shuffle_dataset=False,  # the dataset is laid out in rlvr's prompt order
        max_steps=cfg.trainer.steps,
        # sampling
        max_completion_length=cfg.rollout.max_new_tokens,
        temperature=cfg.rollout.temperature,
        top_p=cfg.rollout.top_p,
        top_k=cfg.rollout.top_k,
        # objective
        beta=cfg.algorithm.kl_coef,
        epsilon=cfg.algorithm.eps_low,
        epsilon_high=cfg.algorithm.eps_high,
        loss_type="dapo",  # = rlvr token_mean: sum of token losses / response tokens in the batch
        scale_rewards="group",  # = rlvr grpo with norm_adv_by_std
        mask_truncated_completions=False,
        # optimizer
        learning_rate=cfg.optim.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        optim="adamw_torch",
        adam_beta1=cfg.optim.betas[0],
        adam_beta2=cfg.optim.betas[1],
        adam_epsilon=cfg.optim.eps,
        weight_decay=cfg.optim.weight_decay,
        max_grad_norm=cfg.optim.max_grad_norm,
        # bookkeeping
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        log_completions=False,
    )


def exact_match_reward(train_samples: list[Sample], router: RewardRouter):
    """A TRL reward function scoring with rlvr's verifier for each row's sample (column sample_index)."""

    def exact_match(
        prompts: list[str], completions: list[str], sample_index: list[int], **_: Any
    ) -> list[float]:
        requests = [
            ScoreRequest(completion=c, spec=train_samples[i].reward, data_source=train_samples[i].data_source)
            for c, i in zip(completions, sample_index, strict=True)
        ]
        return [0.0 if r.error else r.score for r in router.score(requests)]

    return exact_match


class TrlRun:
    """TRL's GRPOTrainer with a step timer; ``after_step`` runs after each timed step (interleaving)."""

    def __init__(
        self, cfg: RunConfig, sft_dir: Path, train_samples: list[Sample], order: list[int], workdir: Path
    ) -> None:
        """``order``: the train-sample index of each prompt, step after step (rlvr's order)."""
        from datasets import Dataset
        from transformers import PrinterCallback
        from trl import GRPOTrainer

        dataset = Dataset.from_list([{"prompt": train_samples[i].prompt, "sample_index": i} for i in order])
        mcfg = ModelConfig(path=str(sft_dir), device="cpu", num_threads=THREADS)
        self.tokenizer = load_tokenizer(mcfg)
        model = load_model(mcfg, self.tokenizer)  # the same loader and checkpoint as rlvr's trainer
        self.router = RewardRouter()
        self.step_s: list[float] = []
        self.cpu_s: list[float] = []
        self.foreign: list[float | None] = []
        self.prepare_s: list[float] = []  # generation + scoring + advantages (TRL's _prepare_inputs)
        self.after_step: Callable[[], None] | None = None
        self.trainer = GRPOTrainer(
            model=model,
            reward_funcs=exact_match_reward(train_samples, self.router),
            args=trl_config(cfg, workdir),
            train_dataset=dataset,
            processing_class=self.tokenizer,
            callbacks=[self._timer()],
        )
        self.trainer.remove_callback(PrinterCallback)  # logs every step; kept in log_history, not printed
        self._wrap_prepare_inputs()

    def _timer(self):
        from transformers import TrainerCallback

        run = self
        load = ForeignLoad()

        class StepTimer(TrainerCallback):
            t0 = c0 = 0.0

            def on_step_begin(self, args, state, control, **kwargs):
                load.start()
                self.t0, self.c0 = time.perf_counter(), time.process_time()

            def on_step_end(self, args, state, control, **kwargs):
                run.step_s.append(time.perf_counter() - self.t0)
                run.cpu_s.append(time.process_time() - self.c0)
                run.foreign.append(load.stop(run.step_s[-1]))
                if run.after_step is not None:
                    run.after_step()

        return StepTimer()

    def _wrap_prepare_inputs(self) -> None:
        inner = self.trainer._prepare_inputs

        def timed(batch):
            t0 = time.perf_counter()
            out = inner(batch)
            self.prepare_s.append(time.perf_counter() - t0)
            return out

        self.trainer._prepare_inputs = timed

    def train(self) -> None:
        torch.set_num_threads(THREADS)
        self.trainer.train()
        self.router.close()

    @property
    def reward(self) -> list[float]:
        return [h["reward"] for h in self.trainer.state.log_history if "reward" in h]

    def finish(self) -> Path:
        final = Path(self.trainer.args.output_dir) / "final"
        self.trainer.model.save_pretrained(final)
        self.tokenizer.save_pretrained(final)
        return final


def run_both(args: argparse.Namespace, cfg: RunConfig, sft_dir: Path, train_samples, workdir: Path):
    """Train both; interleaved: rlvr's step i runs right after TRL's step i, so load on a shared machine
    hits both alike. Sequential: all of rlvr's steps, then all of TRL's."""
    rl = RlvrRun(cfg, sft_dir, workdir)
    order = prompt_order(rl.trainer.sampler, cfg.trainer.steps * cfg.trainer.prompts_per_step)
    tr = TrlRun(cfg, sft_dir, train_samples, order, workdir)
    t0 = time.perf_counter()
    if args.schedule == "interleaved":
        tr.after_step = rl.step
    else:
        for _ in range(cfg.trainer.steps):
            rl.step()
    tr.train()
    print(f"trained both in {time.perf_counter() - t0:.1f}s ({args.schedule})")
    return rl, tr


# ---- report -------------------------------------------------------------------------------------
def _median_after_warmup(xs: list[float]) -> float:
    return statistics.median(xs[1:] or xs)


def summarize(run: RlvrRun | TrlRun, acc: float, breakdown: dict[str, float]) -> dict[str, Any]:
    """Step-time statistics over steps 2..N (step 1 is warm-up), the reward curve, held-out accuracy."""
    reward = run.reward
    k = min(5, len(reward))
    timed = run.step_s[1:] or run.step_s
    return {
        "sec_per_step_median": statistics.median(timed),
        "sec_per_step_mean": statistics.fmean(timed),
        "sec_per_step_min": min(timed),
        "cpu_sec_per_step_median": _median_after_warmup(run.cpu_s),
        "first_step_s": run.step_s[0],
        "train_wall_s": sum(run.step_s),  # every step, the warm-up included
        "breakdown_median_s": breakdown,
        "step_s": run.step_s,
        "cpu_s": run.cpu_s,
        "foreign_cpu_share": run.foreign,
        "reward_per_step": reward,
        "reward_first5": statistics.fmean(reward[:k]),
        "reward_last5": statistics.fmean(reward[-k:]),
        "heldout_accuracy": acc,
    }


def print_report(res: dict[str, Any]) -> None:
    r, t = res["rlvr"], res["trl"]
    print("\nlearning curves: mean reward of each step's rollouts, and the step's wall time (s)")
    print(f"{'step':>5} {'rlvr reward':>12} {'rlvr s':>8} {'trl reward':>11} {'trl s':>8}")
    for i in range(max(len(r["reward_per_step"]), len(t["reward_per_step"]))):
        cells = []
        for side in (r, t):
            rew, st = side["reward_per_step"], side["step_s"]
            cells.append(f"{rew[i]:.3f}" if i < len(rew) else "-")
            cells.append(f"{st[i]:.2f}" if i < len(st) else "-")
        print(f"{i + 1:>5} {cells[0]:>12} {cells[1]:>8} {cells[2]:>11} {cells[3]:>8}")
    print("\nmedian seconds per step (steps 2..N) and its parts:")
    for name, side in (("rlvr", r), ("trl", t)):
        parts = ", ".join(f"{k} {v:.3f}" for k, v in side["breakdown_median_s"].items())
        print(
            f"  {name:<5} {side['sec_per_step_median']:.3f} (mean {side['sec_per_step_mean']:.3f}, "
            f"min {side['sec_per_step_min']:.3f}, CPU {side['cpu_sec_per_step_median']:.3f}): {parts}"
        )
    print(
        f"\nheld-out accuracy of the SFT start: {res['sft_accuracy']:.1%} "
        f"({res['heldout_problems']} problems, greedy, rlvr's evaluate for all three models)"
    )
    print(f"\n{'':18}{'sec/step':>9}   {'reward(first 5 -> last 5)':>25}   {'held-out acc':>12}")
    for name, side in (("rlvr", r), ("trl GRPOTrainer", t)):
        curve = f"{side['reward_first5']:.2f} -> {side['reward_last5']:.2f}"
        print(
            f"{name:<18}{side['sec_per_step_median']:>9.2f}   {curve:>25}   {side['heldout_accuracy']:>12.1%}"
        )
    print(f"{'ratio (trl/rlvr)':<18}{res['ratio_trl_over_rlvr']:>8.1f}x")
    print(
        f"\nother ratios (trl/rlvr): median of per-step ratios {res['paired_ratio_median']:.2f}x, "
        f"of min step times {res['min_ratio_trl_over_rlvr']:.2f}x, of median CPU times "
        f"{res['cpu_ratio_trl_over_rlvr']:.2f}x"
    )
    quiet = res["paired_ratio_quiet_median"]
    print(
        f"median per-step ratio over the {res['quiet_steps']} steps where other processes used under 20% "
        f"of the CPU: " + (f"{quiet:.2f}x" if quiet is not None else "n/a")
    )
    print(
        f"total training wall time, all {len(r['step_s'])} steps (step 1 included; nothing is compiled): "
        f"rlvr {r['train_wall_s']:.1f} s (step 1 {r['first_step_s']:.2f} s), "
        f"trl {t['train_wall_s']:.1f} s (step 1 {t['first_step_s']:.2f} s)"
    )


def quiet_ratio(rl: RlvrRun, tr: TrlRun, max_foreign: float = 0.2) -> dict[str, Any]:
    """The median per-step ratio over steps 2..N where other processes used under ``max_foreign`` of the
    machine's CPU during both sides' step (None when no step qualifies or /proc is missing)."""
    pairs = zip(tr.step_s[1:], rl.step_s[1:], tr.foreign[1:], rl.foreign[1:], strict=True)
    quiet = [
        t / r for t, r, ft, fr in pairs if ft is not None and fr is not None and max(ft, fr) < max_foreign
    ]
    return {
        "quiet_steps": len(quiet),
        "paired_ratio_quiet_median": statistics.median(quiet) if quiet else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import trl

    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renames, raised inside TRL
    torch.set_num_threads(THREADS)
    quiet_transformers()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rlvr-vs-trl-") as tmp:
        workdir = Path(tmp)
        cfg = base_config(args, workdir)
        train_samples = load_dataset_specs(cfg.data.train)
        eval_samples = load_dataset_specs(cfg.data.eval)
        print(
            f"rlvr vs trl {trl.__version__} (torch {torch.__version__}, {THREADS} threads, CPU): "
            f"{args.steps} steps x {args.prompts} prompts x {args.n} completions, "
            f"max_new_tokens={args.max_new_tokens}, lr={args.lr}, seed={args.seed}"
        )
        sft_dir = sft_checkpoint(cfg, workdir)
        sft_acc = heldout_accuracy(sft_dir, eval_samples, args.max_new_tokens)
        print(f"SFT warm start ({args.sft_steps} steps) done: held-out accuracy {sft_acc:.1%}")

        rl, tr = run_both(args, cfg, sft_dir, train_samples, workdir)
        acc_rl = heldout_accuracy(rl.finish(), eval_samples, args.max_new_tokens)
        acc_tr = heldout_accuracy(tr.finish(), eval_samples, args.max_new_tokens)

    rl_parts = {k: _median_after_warmup([p[k] for p in rl.parts]) for k in rl.parts[0]}
    prepare = _median_after_warmup(tr.prepare_s)
    tr_parts = {
        "gen+reward+adv": prepare,
        "update (rest of step)": _median_after_warmup(
            [s - p for s, p in zip(tr.step_s, tr.prepare_s, strict=True)]
        ),
    }
    res: dict[str, Any] = {
        "settings": {**vars(args), "threads": THREADS, "trl": trl.__version__, "torch": torch.__version__},
        "heldout_problems": len(eval_samples),
        "sft_accuracy": sft_acc,
        "rlvr": summarize(rl, acc_rl, rl_parts),
        "trl": summarize(tr, acc_tr, tr_parts),
    }
    res["ratio_trl_over_rlvr"] = res["trl"]["sec_per_step_median"] / res["rlvr"]["sec_per_step_median"]
    res["cpu_ratio_trl_over_rlvr"] = (
        res["trl"]["cpu_sec_per_step_median"] / res["rlvr"]["cpu_sec_per_step_median"]
    )
    res["min_ratio_trl_over_rlvr"] = res["trl"]["sec_per_step_min"] / res["rlvr"]["sec_per_step_min"]
    # step i of each ran back to back (interleaved), so their ratio cancels slow drifts in machine load
    res["paired_ratio_median"] = _median_after_warmup(
        [t / r for t, r in zip(tr.step_s, rl.step_s, strict=True)]
    )
    res.update(quiet_ratio(rl, tr))
    res["total_minutes"] = (time.perf_counter() - t_start) / 60
    print_report(res)
    out = save_results(res, args.output)
    print(f"\ntotal {res['total_minutes']:.1f} min; results in {out}")
    return res


def save_results(res: dict[str, Any], output: str) -> Path:
    """Write ``res`` as indented JSON to ``output`` (its folder created as needed)."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
