"""The default rollout engine: batched sampling with a Hugging Face model in this process.

Prompts are left-padded into one batch, the prompt is run once to fill the KV cache, then one token a
step is sampled for every live sequence. The engine holds the learner's own model object, so weight
sync after an update is free.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import torch

from rlvr.rollout.sampling import sample_next
from rlvr.rollout.types import Completion, SamplingParams


class HFEngine:
    """Generates completions with a transformers causal LM.

    ``max_batch_size`` bounds the number of sequences decoded together (memory); a larger request is
    split into chunks.
    """

    def __init__(self, model, tokenizer, max_batch_size: int = 256, seed: int = 0) -> None:
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token (e.g. to eos)")
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.generator = torch.Generator().manual_seed(seed)
        # transformers 5.x renamed `past_key_values` to `cache`; accept either.
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        """``params.n`` completions for each prompt, grouped: prompt 0's n first, then prompt 1's..."""
        return [c for chunk in self.generate_iter(prompts, params) for c in chunk]

    def generate_iter(self, prompts: list[list[int]], params: SamplingParams) -> Iterator[list[Completion]]:
        """Like :meth:`generate`, one chunk of at most ``max_batch_size`` completions at a time, so that a
        consumer can score a chunk while the next one generates."""
        jobs = [(i, k, ids) for i, ids in enumerate(prompts) for k in range(params.n)]
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(jobs), self.max_batch_size):
                yield self._generate_chunk(jobs[start : start + self.max_batch_size], params)
        finally:
            self.model.train(was_training)

    @torch.no_grad()
    def _generate_chunk(
        self, jobs: list[tuple[int, int, list[int]]], params: SamplingParams
    ) -> list[Completion]:
        device = next(self.model.parameters()).device
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        width = max(len(ids) for _, _, ids in jobs)
        input_ids = torch.full((len(jobs), width), pad, dtype=torch.long)
        attn = torch.zeros((len(jobs), width), dtype=torch.long)
        for row, (_, _, ids) in enumerate(jobs):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attn[row, width - len(ids) :] = 1
        input_ids, attn = input_ids.to(device), attn.to(device)

        B, T = len(jobs), params.max_new_tokens
        tokens = torch.full((B, T), pad, dtype=torch.long)
        logps = torch.zeros((B, T))
        lengths = torch.full((B,), T, dtype=torch.long)
        alive = torch.ones(B, dtype=torch.bool)
        stopped = torch.zeros(B, dtype=torch.bool)
        stop_check = _StopChecker(self.tokenizer, params.stop)

        position_ids = (attn.cumsum(-1) - 1).clamp(min=0)
        step_ids, cache = input_ids, None
        for t in range(T):
            out = self.model(
                input_ids=step_ids,
                attention_mask=attn,
                position_ids=position_ids,
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_kw: cache},
            )
            cache = getattr(out, self._cache_kw)
            next_tok, next_logp = sample_next(
                out.logits[:, -1, :], params.temperature, params.top_k, params.top_p, self.generator
            )
            next_tok, next_logp = next_tok.cpu(), next_logp.cpu()
            next_tok = torch.where(alive, next_tok, torch.full_like(next_tok, pad))
            tokens[:, t], logps[:, t] = next_tok, next_logp
            finished = alive & (next_tok == eos)  # (B,)
            if stop_check.stop:
                for row in (alive & ~finished).nonzero().flatten().tolist():
                    finished[row] = stop_check.hit(tokens[row, : t + 1])
            lengths[finished] = t + 1
            stopped |= finished
            alive &= ~finished
            if not alive.any():
                break
            step_ids = next_tok[:, None].to(device)
            attn = torch.cat([attn, alive[:, None].long().to(device)], dim=-1)
            position_ids = position_ids[:, -1:] + 1

        completions = []
        for row, (prompt_index, sample_index, ids) in enumerate(jobs):
            n = int(lengths[row])
            tok = tokens[row, :n].tolist()
            completions.append(
                Completion(
                    prompt_index=prompt_index,
                    token_ids=tok,
                    logprobs=logps[row, :n].tolist(),
                    text=self.tokenizer.decode(tok, skip_special_tokens=True),
                    finish_reason="stop" if stopped[row] else "length",
                    prompt_ids=list(ids),
                    sample_index=sample_index,
                )
            )
        return completions


class _StopChecker:
    """Tests whether the tail of a completion contains a stop string (decoding only the tail)."""

    def __init__(self, tokenizer, stop: list[str]) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.tail = max((len(s) for s in stop), default=0) + 4  # tokens are at least one character

    def hit(self, ids: torch.Tensor) -> bool:
        if not self.stop:
            return False
        text = self.tokenizer.decode(ids[-self.tail :].tolist(), skip_special_tokens=True)
        return any(s in text for s in self.stop)
