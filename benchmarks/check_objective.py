"""Check that vs_trl.py's two configurations optimise the same objective: one batch, one gradient each.

    python benchmarks/check_objective.py [--prompts 8 --n 8 --seed 0]

Builds both trainers as benchmarks/vs_trl.py does, samples one batch with rlvr's engine, scores it with
rlvr's verifier, and computes the policy-gradient loss and its gradient on the same weights twice:
with rlvr's learner pieces (grpo advantages, ppo_clip, token_mean) and with TRL's
``GRPOTrainer._compute_loss`` (its group-scaled advantages, loss_type "dapo"). Prints both losses and
the relative difference of the gradients; the only expected difference is the advantage epsilon
(rlvr std + 1e-6, TRL std + 1e-4), a relative difference around 1e-4 to 1e-3.

It reaches into private pieces of both libraries (``Learner._forward``, ``GRPOTrainer._compute_loss``),
so a change in either may need an edit here.
"""

from __future__ import annotations

import tempfile
import warnings
from functools import partial
from pathlib import Path

import torch
import vs_trl as bench

from rlvr.algorithms import ADVANTAGES
from rlvr.data.specs import load_dataset_specs
from rlvr.distributed.placement import local_learner, local_rollout
from rlvr.rewards.completions import score_completions
from rlvr.rollout.prompts import encode_prompts
from rlvr.training.batch import TokenBatch, collate, last_token_rewards


def rlvr_grad(trainer, batch: TokenBatch, scores: torch.Tensor, groups: torch.Tensor):
    role = local_learner(trainer.roles)
    learner, model, algo = role.learner, role.model, trainer.cfg.algorithm
    mask = batch.response_mask
    adv, _ = ADVANTAGES.get(algo.advantage)(last_token_rewards(scores, mask), mask, groups, algo)
    agg = partial(learner.aggregation, num_tokens=float(mask.sum()), num_seqs=float(batch.size), norm_len=1)
    logp, _ = learner._forward(model, batch, with_entropy=False)
    loss, _ = learner.policy_loss(logp, logp.detach(), adv, mask, algo, agg, behaviour_logprobs=None)
    model.zero_grad()
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters()])


def trl_grad(grpo, batch: TokenBatch, scores: torch.Tensor, n: int):
    """TRL's loss on the same tokens; advantages as GRPOTrainer computes them (scale_rewards="group")."""
    grouped = scores.view(-1, n)
    mean = grouped.mean(1).repeat_interleave(n)
    std = grouped.std(1).repeat_interleave(n)
    P = batch.prompt_width
    inputs = {
        "prompt_ids": batch.input_ids[:, :P],
        "prompt_mask": batch.attention_mask[:, :P],
        "completion_ids": batch.input_ids[:, P:],
        "completion_mask": batch.response_mask.long(),
        "advantages": (scores - mean) / (std + 1e-4),
        "num_items_in_batch": batch.response_mask.sum(),
    }
    grpo.current_gradient_accumulation_steps = 1  # set by Trainer.train(), which is not running
    grpo.model.train()
    loss = grpo._compute_loss(grpo.model, inputs)
    grpo.model.zero_grad()
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in grpo.model.parameters()])


def main() -> None:
    args = bench.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(bench.THREADS)
    bench.quiet_transformers()
    with tempfile.TemporaryDirectory(prefix="rlvr-objective-") as tmp:
        workdir = Path(tmp)
        cfg = bench.base_config(args, workdir)
        sft_dir = bench.sft_checkpoint(cfg, workdir)
        rl = bench.RlvrRun(cfg, sft_dir, workdir).trainer
        order = bench.prompt_order(rl.sampler, cfg.trainer.prompts_per_step)
        trl = bench.TrlRun(cfg, sft_dir, load_dataset_specs(cfg.data.train), order, workdir).trainer
        trl.model.load_state_dict(local_learner(rl.roles).model.state_dict())

        samples = [rl.train_samples[i] for i in order]
        completions = local_rollout(rl.roles).engine.generate(
            encode_prompts(rl.tokenizer, samples), rl.cfg.rollout.sampling_params()
        )
        _, results = score_completions(rl.roles.reward, samples, completions)
        scores = torch.tensor([r.score for r in results])
        groups = torch.tensor([c.prompt_index for c in completions])
        batch = collate(completions, rl.tokenizer.pad_token_id)

        loss_r, grad_r = rlvr_grad(rl, batch, scores, groups)
        loss_t, grad_t = trl_grad(trl, batch, scores, cfg.rollout.n)
        rel = float((grad_r - grad_t).norm() / grad_r.norm().clamp_min(1e-12))
        print(f"batch of {batch.size}, mean reward {scores.mean():.3f}")
        print(f"loss  rlvr {loss_r:+.6e}   trl {loss_t:+.6e}")
        print(f"grad  |rlvr| {grad_r.norm():.6f}   |trl| {grad_t.norm():.6f}   relative difference {rel:.2e}")
        print("same objective" if rel < 1e-2 else "DIFFERENT objectives: check the settings in vs_trl.py")


if __name__ == "__main__":
    main()
