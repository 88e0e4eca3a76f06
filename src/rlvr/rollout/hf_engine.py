"""The default rollout engine: batched sampling with a Hugging Face model in this process.

Each distinct prompt of a chunk is run once to fill the KV cache (the n completions of a GRPO group
share their prompt), the cache is gathered to one row per completion, then one token a step is sampled
for every live sequence. The KV cache and the attention mask are allocated once for the whole decode
(no mask at all when no prompt is padded), and rows that finish are dropped from the decode batch once
they are a large enough share of it. Llama-family models run through rlvr's fast decoder
(``rlvr.models.fast_decoder``), others through their own forward (``rlvr.rollout.decode_steps``). The
engine holds the learner's own model object, so weight sync after an update is free.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch
from torch import Tensor

from rlvr.models.fast_decoder import kv_dtype, unsupported
from rlvr.models.memory import OutOfMemory, hint, kv_cache_bytes_per_token
from rlvr.rollout.decode_steps import FastSteps, TransformersSteps, positions_from_mask
from rlvr.rollout.graphed_steps import GraphedSteps, graphs_run_on
from rlvr.rollout.sampling import RowUniforms, sample_next
from rlvr.rollout.types import Completion, SamplingParams

log = logging.getLogger(__name__)

# Drop finished rows from the decode batch once at most this share of its rows is still alive.
COMPACT_BELOW = 0.5
# On an accelerator, look at which rows finished (one host sync) every this many decode steps.
SYNC_EVERY = 8
# A chunk still decoding after this many steps packs its weights (``FastDecoder.pack``; bfloat16 on the
# CPU). Packing costs ~2.5 packed decode steps from the tiny shape to SmolLM-135M's (~6 at Qwen2.5-0.5B's)
# and an unpacked step costs ~30-45% more than a packed one, so packing pays back after ~6 steps (~12 at
# 0.5B). Waiting about that long (ski rental's rule) keeps the cost within about twice that of the best
# choice made knowing the decode's length, and a short decode (a multi-turn agent's turn) skips it.
PACK_AFTER_STEPS = 8


class HFEngine:
    """Generates completions with a transformers causal LM.

    ``max_batch_size`` bounds the number of sequences decoded together (memory); a larger request is
    split into chunks, and so is one whose KV cache would exceed ``max_kv_cache_bytes`` (None: no
    bound). ``fast_decoder`` runs Llama-family models through ``rlvr.models.fast_decoder``
    (same math, less overhead a step); other models, and all with it off, use the model's own forward.
    ``sync_every``: decode steps between the host's looks at which rows finished (None: every step on
    the CPU, ``SYNC_EVERY`` on an accelerator); the samples are the same whatever it is.
    ``cuda_graphs``: on a CUDA device, the fast decoder's decode step is captured and replayed as a CUDA
    graph (``rlvr.rollout.graphed_steps``); elsewhere, or without the fast decoder, it has no effect.
    """

    def __init__(
        self,
        model,
        tokenizer,
        max_batch_size: int = 256,
        seed: int = 0,
        fast_decoder: bool = True,
        max_kv_cache_bytes: int | None = None,
        sync_every: int | None = None,
        cuda_graphs: bool = False,
    ) -> None:
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token (e.g. to eos)")
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.fast_decoder = fast_decoder
        self.max_kv_cache_bytes = max_kv_cache_bytes
        self.sync_every = sync_every
        self.cuda_graphs = cuda_graphs
        self._fallback_logged: str | None = None

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        """``params.n`` completions for each prompt, grouped: prompt 0's n first, then prompt 1's..."""
        return [c for chunk in self.generate_iter(prompts, params) for c in chunk]

    def generate_iter(self, prompts: list[list[int]], params: SamplingParams) -> Iterator[list[Completion]]:
        """Like :meth:`generate`, one chunk of at most ``max_batch_size`` completions at a time, so that a
        consumer can score a chunk while the next one generates."""
        jobs = [(i, k, ids) for i, ids in enumerate(prompts) for k in range(params.n)]
        chunk = self.chunk_size(max((len(ids) for ids in prompts), default=0), params.max_new_tokens)
        settings = (
            f"lower rollout.max_kv_cache_bytes (now {self.max_kv_cache_bytes}) or "
            f"rollout.max_batch_size (now {self.max_batch_size})"
        )
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(jobs), chunk):
                with hint("generation (hf engine)", settings):
                    completions = self._generate_chunk(jobs[start : start + chunk], params)
                yield completions
        finally:
            self.model.train(was_training)

    def chunk_size(self, prompt_len: int, max_new_tokens: int) -> int:
        """Sequences decoded together: ``max_batch_size``, fewer when their KV cache (longest prompt +
        ``max_new_tokens`` positions each, in the dtype the decoder keeps it in) would exceed
        ``max_kv_cache_bytes``."""
        if self.max_kv_cache_bytes is None:
            return self.max_batch_size
        seq_len = prompt_len + max_new_tokens
        fast = self._not_fast(seq_len) is None
        per_seq = kv_cache_bytes_per_token(self.model, kv_dtype(self.model) if fast else None) * seq_len
        rows = self.max_kv_cache_bytes // per_seq
        if rows < 1:
            raise OutOfMemory(
                f"one sequence's KV cache ({prompt_len} + {max_new_tokens} positions, {per_seq} bytes) "
                f"exceeds rollout.max_kv_cache_bytes={self.max_kv_cache_bytes}: raise it, or lower "
                "rollout.max_new_tokens or the prompt length"
            )
        return min(self.max_batch_size, rows)

    def _steps(self, seq_len: int, device: torch.device) -> TransformersSteps | FastSteps | GraphedSteps:
        """The fast decoder where the model allows it (see ``rlvr.models.fast_decoder``), its decode step a
        CUDA graph with ``cuda_graphs`` on a CUDA device, else the model's own forward; a fallback the
        model forces is logged once with its reason."""
        reason = self._not_fast(seq_len)
        if reason is None and self.cuda_graphs and graphs_run_on(device):
            return GraphedSteps(self.model)
        if reason is None:
            return FastSteps(self.model)
        if self.fast_decoder and reason != self._fallback_logged:
            log.info("hf engine: transformers' forward, not the fast decoder: %s", reason)
            self._fallback_logged = reason
        return TransformersSteps(self.model)

    def _not_fast(self, seq_len: int) -> str | None:
        """Why sequences of ``seq_len`` positions do not decode through the fast decoder (None: they do)."""
        if not self.fast_decoder:
            return "the engine's fast_decoder is off"
        return unsupported(self.model, seq_len)

    def _sync_every(self, device: torch.device, params: SamplingParams) -> int:
        """Decode steps between looks at which rows finished (each a host sync): every step on the CPU
        (a sync costs nothing there, a step after the last row finished does) and with stop strings
        (checked on the host), else ``sync_every`` or ``SYNC_EVERY``."""
        if params.stop or (device.type == "cpu" and self.sync_every is None):
            return 1
        return self.sync_every or SYNC_EVERY

    @torch.no_grad()
    def _generate_chunk(
        self, jobs: list[tuple[int, int, list[int]]], params: SamplingParams
    ) -> list[Completion]:
        """Prefill, then one token a step for each row of the chunk until all finished or ``max_new_tokens``.

        Tokens, log-probs and the finish test stay on the model's device; the host reads how many rows
        are alive every ``_sync_every`` steps, to stop or to drop finished rows from the decode batch.
        Each row's draws come from ``RowUniforms``, so neither changes any sample.
        """
        B, T = len(jobs), params.max_new_tokens
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        logits, steps, next_pos = self._prefill(jobs, T)
        device = logits.device
        draws = None if params.temperature == 0 else RowUniforms(self.generator, B, device)
        every = self._sync_every(device, params)
        stop_check = _StopChecker(self.tokenizer, params.stop)
        out = _Decoded(B, T, pad, device)
        for t in range(T):
            u = None if draws is None else draws.next()[out.live]
            next_tok, next_logp = sample_next(
                logits, params.temperature, params.top_k, params.top_p, uniforms=u
            )
            out.write(t, next_tok, next_logp)
            finished = out.alive & (next_tok == eos)  # (b,)
            if stop_check.stop:
                stop_check.update(finished, out, t)
            out.finish(t, finished)
            if t == T - 1:
                break
            if (t + 1) % every == 0:
                n_alive = int(out.alive.sum())
                if n_alive == 0:
                    break
                if n_alive <= COMPACT_BELOW * out.alive.numel():  # drop finished rows from the decode batch
                    keep = out.compact()
                    steps.keep(keep)
                    next_pos, next_tok = next_pos[keep], next_tok[keep]
            if t == PACK_AFTER_STEPS:
                steps.pack()
            logits = steps.decode(next_tok, next_pos + t)
        tokens, logps, lengths, stopped = out.result()
        return self._completions(jobs, tokens.cpu(), logps.cpu(), lengths.cpu(), stopped.cpu())

    def _prefill(self, jobs: list[tuple[int, int, list[int]]], T: int):
        """Run each distinct prompt of the chunk once and gather its logits and KV cache to its rows.

        Returns the next-token logits (B, V); the steps object, which holds the KV cache (room for ``T``
        more tokens) and the decode's key mask (none when no prompt is padded); and each row's next
        position (B,).
        """
        device = next(self.model.parameters()).device
        group: dict[int, int] = {}  # prompt index -> row of the prefill batch
        owner = torch.tensor([group.setdefault(i, len(group)) for i, _, _ in jobs])  # (B,)
        distinct = {i: ids for i, _, ids in jobs}
        input_ids, prompt_attn = _left_pad([distinct[i] for i in group], self.tokenizer.pad_token_id)
        input_ids, prompt_attn, owner = input_ids.to(device), prompt_attn.to(device), owner.to(device)
        P = input_ids.size(1)
        padded = not bool(prompt_attn.all())
        steps = self._steps(P + T, device)
        positions = positions_from_mask(prompt_attn)
        logits = steps.prefill(input_ids, positions, prompt_attn if padded else None, owner, P + T)
        return logits, steps, prompt_attn.sum(-1)[owner]

    def _completions(
        self,
        jobs: list[tuple[int, int, list[int]]],
        tokens: Tensor,
        logps: Tensor,
        lengths: Tensor,
        stopped: Tensor,
    ) -> list[Completion]:
        token_lists = [row[:n] for row, n in zip(tokens.tolist(), lengths.tolist(), strict=True)]
        logp_lists = [row[:n] for row, n in zip(logps.tolist(), lengths.tolist(), strict=True)]
        # one decode call a row: batch_decode converts the nested lists twice, which costs more
        texts = [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in token_lists]
        return [
            Completion(
                prompt_index=prompt_index,
                token_ids=tok,
                logprobs=logp,
                text=text,
                finish_reason="stop" if stop else "length",
                prompt_ids=list(ids),
                sample_index=sample_index,
            )
            for (prompt_index, sample_index, ids), tok, logp, text, stop in zip(
                jobs, token_lists, logp_lists, texts, stopped.tolist(), strict=True
            )
        ]


def _left_pad(prompts: list[list[int]], pad: int) -> tuple[Tensor, Tensor]:
    """Prompts left-padded to a common width: input ids and attention mask, both (U, P)."""
    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    attn = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attn[row, width - len(ids) :] = 1
    return input_ids, attn


class _Decoded:
    """A chunk's decode so far, on the model's device. The decode batch's rows (b of the chunk's B; ``live``
    (b,) says which) keep their own tokens and log-probs (b, T), lengths and stop flags (b,), written in
    place each step with no masking; ``alive`` (b,) says which are unfinished. The chunk's (B, ...)
    results are written from them when rows leave the batch and at the end (``result``), where the
    positions past each row's length become ``pad`` / 0: a few operators a step instead of a dozen
    indexed writes."""

    def __init__(self, B: int, T: int, pad: int, device: torch.device) -> None:
        self.tokens = torch.full((B, T), pad, dtype=torch.long, device=device)
        self.logps = torch.zeros((B, T), device=device)
        self.lengths = torch.full((B,), T, dtype=torch.long, device=device)
        self.stopped = torch.zeros(B, dtype=torch.bool, device=device)
        self.live = torch.arange(B, device=device)
        self.alive = torch.ones(B, dtype=torch.bool, device=device)
        # the decode batch's rows: the chunk's own tensors until rows first leave it
        self.batch_tokens, self.batch_logps = self.tokens, self.logps
        self.batch_lengths, self.batch_stopped = self.lengths, self.stopped
        self.pad = pad

    def write(self, t: int, tok: Tensor, logp: Tensor) -> None:
        """Step ``t``'s tokens and log-probs (b,) of the decode batch (a finished row's are masked later)."""
        self.batch_tokens[:, t] = tok
        self.batch_logps[:, t] = logp

    def finish(self, t: int, finished: Tensor) -> None:
        """End the rows ``finished`` (b,) (alive ones only) at length t + 1."""
        self.batch_lengths.masked_fill_(finished, t + 1)
        self.batch_stopped.logical_or_(finished)
        self.alive = self.alive & ~finished

    def compact(self) -> Tensor:
        """Drop the finished rows from the decode batch; returns the kept batch rows (b',)."""
        self._flush()
        keep = self.alive.nonzero().flatten()
        self.live, self.alive = self.live[keep], self.alive[keep]
        self.batch_tokens, self.batch_logps = self.batch_tokens[keep], self.batch_logps[keep]
        self.batch_lengths, self.batch_stopped = self.batch_lengths[keep], self.batch_stopped[keep]
        return keep

    def result(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The chunk's tokens and log-probs (B, T), pad and 0 past each row's length, its lengths and
        whether each row stopped (B,)."""
        self._flush()
        past = torch.arange(self.tokens.size(1), device=self.tokens.device) >= self.lengths[:, None]
        return (
            self.tokens.masked_fill(past, self.pad),
            self.logps.masked_fill(past, 0.0),
            self.lengths,
            self.stopped,
        )

    def _flush(self) -> None:
        """Write the decode batch's rows into the chunk's tensors (nothing to do while they are the same)."""
        if self.batch_tokens is self.tokens:
            return
        self.tokens[self.live] = self.batch_tokens
        self.logps[self.live] = self.batch_logps
        self.lengths[self.live] = self.batch_lengths
        self.stopped[self.live] = self.batch_stopped


class _StopChecker:
    """Tests whether the tail of a completion contains a stop string (decoding only the tail)."""

    def __init__(self, tokenizer, stop: list[str]) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.tail = max((len(s) for s in stop), default=0) + 4  # tokens are at least one character

    def update(self, finished: Tensor, out: _Decoded, t: int) -> None:
        """Also mark finished (in place) the alive rows of the decode batch whose text now holds a stop
        string (a host sync a step)."""
        for i in (out.alive & ~finished).nonzero().flatten().tolist():
            finished[i] = self.hit(out.batch_tokens[i, : t + 1])

    def hit(self, ids: torch.Tensor) -> bool:
        if not self.stop:
            return False
        text = self.tokenizer.decode(ids[-self.tail :].tolist(), skip_special_tokens=True)
        return any(s in text for s in self.stop)
