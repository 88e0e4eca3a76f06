"""GRPO end to end in one linear script, built from rlvr's own pieces. Read it in one sitting.

    python scripts/grpo_reference.py            # ~3 minutes on a laptop CPU
    python scripts/grpo_reference.py --sft-steps 5 --rl-steps 3 --prompts 8   # a smoke run (tests)

A tiny Llama-style model learns to sort digits: a short SFT warm start, then GRPO. The trainer
(`rlvr train`) does the same with checkpoints, metrics, micro-batching and registries; this script
keeps only the math and the data flow:

    prompts -> n completions each (behaviour log-probs) -> verifier rewards -> group-normalised
    advantages -> clipped surrogate, token-mean over the batch -> one AdamW step

How it differs from the papers:
- GRPO (Shao et al. 2024) adds a KL penalty to a reference model; like DAPO (Yu et al. 2025) and
  Dr. GRPO we drop it (beta = 0), so no reference model is loaded.
- Loss aggregation is DAPO's token-level mean over the whole batch, not GRPO's per-sequence mean.
- Clip-higher: eps_low 0.2, eps_high 0.28 (DAPO). One update per batch, so the ratio is 1 and the
  clip only matters through its gradient mask; with ppo_epochs > 1 (`rlvr train`) it bites.
- No dynamic sampling: groups whose rewards are all equal get zero advantage and simply add no gradient.
"""

import argparse
import random

import torch

from rlvr.algorithms import ADVANTAGES, LOSS_AGGREGATIONS, POLICY_LOSSES, AlgorithmConfig
from rlvr.algorithms.entropy import logprobs_from_logits
from rlvr.data import generate
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.rewards.completions import score_completions
from rlvr.rewards.router import RewardRouter
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.training.batch import TokenBatch, collate, last_token_rewards
from rlvr.training.sft import encode_sft, pad_sft, sft_loss

ALGO = AlgorithmConfig(advantage="grpo", eps_low=0.2, eps_high=0.28, loss_agg="token_mean")


def grpo_loss(
    model: torch.nn.Module, batch: TokenBatch, scores: torch.Tensor, group: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The GRPO loss of one batch: group-normalised advantages, then the clipped surrogate, token-mean.
    (tests/training/test_grpo_reference.py checks it equals the learner's loss on the same batch.)"""
    adv, _ = ADVANTAGES.get(ALGO.advantage)(
        last_token_rewards(scores, batch.response_mask), batch.response_mask, group, ALGO
    )  # (B, R)
    R = batch.response_width
    logits = (
        model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            logits_to_keep=R + 1,
        ).logits[:, :-1]
        / temperature
    )  # (B, R, V)
    logp = logprobs_from_logits(logits, batch.input_ids[:, -R:])  # (B, R)
    aggregate = LOSS_AGGREGATIONS.get(ALGO.loss_agg)
    return POLICY_LOSSES.get(ALGO.policy_loss)(logp, logp.detach(), adv, batch.response_mask, ALGO, aggregate)


def main(sft_steps: int = 70, rl_steps: int = 150, prompts_per_step: int = 64, eval_size: int = 300) -> float:
    """SFT, then GRPO; returns the held-out accuracy after RL."""
    torch.manual_seed(0)
    random.seed(0)
    torch.set_num_threads(2)

    # ---- model, data, reward -----------------------------------------------------------------------
    tok = build_tokenizer()
    model = build_tiny_model(TinyModelConfig(hidden_size=128, intermediate_size=256, num_layers=2), tok)
    demos = generate("digit_sort", size=2000, seed=1, split="sft")
    prompts = generate("digit_sort", size=20000, seed=2)
    held_out = generate("digit_sort", size=eval_size, seed=3, split="eval")
    engine = HFEngine(model, tok, max_batch_size=512)
    router = RewardRouter()  # each sample names its verifier (here exact_match)

    def accuracy() -> float:
        greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=10)
        completions = engine.generate(encode_prompts(tok, held_out), greedy)
        _, results = score_completions(router, held_out, completions)
        return sum(bool(r.correct) for r in results) / len(results)

    print(f"before SFT: {accuracy():.1%}")

    # ---- SFT warm start: cross-entropy on response tokens ----------------------------------------
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(sft_steps):
        rows = [encode_sft(tok, s) for s in random.sample(demos, 64)]
        batch = pad_sft(rows, tok.pad_token_id)
        loss = sft_loss(model, batch, int((batch["labels"][:, 1:] != -100).sum()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"after SFT:  {accuracy():.1%}")

    # ---- GRPO -------------------------------------------------------------------------------------
    sampling = SamplingParams(n=8, temperature=1.0, max_new_tokens=10)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    for step in range(rl_steps):
        samples = random.sample(prompts, prompts_per_step)
        completions = engine.generate(encode_prompts(tok, samples), sampling)  # grouped by prompt
        _, results = score_completions(router, samples, completions)
        batch = collate(completions, tok.pad_token_id)  # (B, P+R) tokens, (B, R) response mask
        scores = torch.tensor([r.score for r in results])  # (B,)
        group = torch.tensor([c.prompt_index for c in completions])  # (B,)
        loss, _ = grpo_loss(model, batch, scores, group, sampling.temperature)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 24:
            print(f"step {step + 1}: reward {scores.mean():.3f}, held-out {accuracy():.1%}")

    final = accuracy()
    print(f"after RL:   {final:.1%}")
    return final


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft-steps", type=int, default=70)
    parser.add_argument("--rl-steps", type=int, default=150)
    parser.add_argument("--prompts", type=int, default=64, help="prompts per GRPO step (8 completions each)")
    parser.add_argument("--eval-size", type=int, default=300)
    a = parser.parse_args()
    main(a.sft_steps, a.rl_steps, a.prompts, a.eval_size)
