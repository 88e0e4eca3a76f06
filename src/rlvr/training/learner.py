"""The learner: log-probs of a TokenBatch, and the policy update (epochs x mini-batches x micro-batches).

It looks the policy loss, KL estimator and aggregation up by name; it never branches on them.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from functools import partial
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from rlvr.algorithms import FILTERS, LOSS_AGGREGATIONS, POLICY_LOSSES, AlgorithmConfig, kl_penalty
from rlvr.algorithms.filters import FilterInput
from rlvr.algorithms.logprobs import token_logprobs
from rlvr.algorithms.registries import zero_at_zero_advantage
from rlvr.config import OptimConfig, TrainerConfig
from rlvr.models.attention import short_sequence_attention
from rlvr.models.memory import hint
from rlvr.models.prefix import SharedPrefix
from rlvr.training.batch import TokenBatch, length_buckets
from rlvr.training.microbatch import micro_batches
from rlvr.training.optim import build_optimizer
from rlvr.training.vlm_forward import vision_forward


class Learner:
    """Owns the policy's optimizer. ``reference`` is a frozen model, ``"adapter"`` (a peft model with its
    adapter disabled serves as the reference) or None (no KL, nothing loaded). ``update_filters`` names the
    update-stage filters (``zero_advantage``; see :mod:`rlvr.algorithms.filters`); None derives them from
    ``trainer.skip_zero_advantage``."""

    def __init__(
        self,
        model: torch.nn.Module,
        algo: AlgorithmConfig,
        optim: OptimConfig,
        trainer: TrainerConfig,
        total_steps: int,
        temperature: float,
        norm_len: int,
        reference: torch.nn.Module | Literal["adapter"] | None = None,
        update_filters: list[str] | None = None,
    ) -> None:
        self.model, self.algo, self.optim_cfg, self.trainer_cfg = model, algo, optim, trainer
        self.reference = reference
        self.temperature = temperature if temperature > 0 else 1.0
        self.total_steps = total_steps
        self.policy_loss = POLICY_LOSSES.get(algo.policy_loss)
        self.aggregation = LOSS_AGGREGATIONS.get(algo.loss_agg)
        self.norm_len = algo.loss_agg_norm_len or norm_len
        self.device = next(model.parameters()).device
        self.optimizer, self.scheduler = build_optimizer(model, optim, total_steps)
        self.nonfinite_streak = 0
        if update_filters is None:
            update_filters = ["zero_advantage"] if trainer.skip_zero_advantage else []
        # rows are skipped only under a loss that declares itself exactly 0 at zero advantage
        skippable = zero_at_zero_advantage(self.policy_loss)
        self.update_filters = [(n, FILTERS.get(n)) for n in update_filters] if skippable else []
        # one model call per micro-batch (no shared-prefix pass, no length buckets): trainer.shared_prefix,
        # and always for a sharded learner, whose ranks must run the same collectives whatever their rows
        self.one_pass = not shares_prompts(trainer.shared_prefix, self.device)

    def counters(self) -> dict[str, int]:
        """The learner's state besides the optimizer and schedule, for checkpoints."""
        return {"nonfinite_streak": self.nonfinite_streak}

    def load_counters(self, counters: dict[str, int]) -> None:
        self.nonfinite_streak = int(counters.get("nonfinite_streak", 0))

    def reset_optimizer(self) -> None:
        """Fresh AdamW moments (ProRL's reference reset); the schedule keeps its position."""
        self.optimizer.state.clear()

    # ---- forward passes -------------------------------------------------------------------------
    def _forward(self, model, mb: TokenBatch, with_entropy: bool) -> tuple[Tensor, Tensor | None]:
        """Log-probs (b, R) of the response tokens and, with ``with_entropy``, per-token entropies (b, R).

        The prompt runs once per distinct prompt (a group's n completions share it; see ``SharedPrefix``),
        and its last logits predict every row's first response token. The responses run in at most two
        passes, each trimmed to its own longest response r (see ``length_buckets``), over r - 1 columns:
        a response's last token is never an input, since its logits would predict past the end. Only
        response positions are meaningful: the columns past the longest response of a row's pass hold 0.
        Short sequences on CPU run with eager attention (see ``short_sequence_attention``). With
        ``one_pass`` (``trainer.shared_prefix`` false, the default on an accelerator, and a sharded learner)
        each micro-batch is one model call over its rows, trimmed to its longest response.
        """
        if mb.vision is not None:  # images: the VLM's own vision path and positions
            return vision_forward(model, mb, self._token_stats, with_entropy)
        P, R = mb.prompt_width, mb.response_width
        lengths = mb.response_lengths().cpu()
        buckets = [torch.arange(mb.size)] if self.one_pass else length_buckets(lengths)
        device = mb.input_ids.device
        parts = []
        with short_sequence_attention(model, P + R):
            prefix = (
                None
                if self.one_pass
                else SharedPrefix.build(model, mb.input_ids, mb.attention_mask, mb.position_ids, P)
            )
            for rows in buckets:
                r = max(int(lengths[rows].max()), 1)  # this pass's response width
                rows = rows.to(device)
                sub = (mb if len(buckets) == 1 else mb.select(rows)).trim(r)
                labels = sub.input_ids[:, -r:]
                stats = [
                    self._token_stats(logits, labels[:, start : start + logits.size(1)], with_entropy)
                    for start, logits in self._response_logits(model, prefix, rows, sub, r)
                ]
                parts.append(self._join(stats, pad_to=R))
        if len(parts) == 1:
            return parts[0]
        order = torch.cat(buckets).argsort().to(device)  # back to the rows' order
        logprobs = torch.cat([p[0] for p in parts]).index_select(0, order)
        entropies = [e for _, e in parts if e is not None]  # every part has them when with_entropy
        entropy = torch.cat(entropies).index_select(0, order) if with_entropy else None
        return logprobs, entropy

    @staticmethod
    def _response_logits(
        model, prefix: SharedPrefix | None, rows: Tensor, mb: TokenBatch, r: int
    ) -> list[tuple[int, Tensor]]:
        """Logits predicting the r response tokens of ``mb`` (rows ``rows`` of the batch that ``prefix``,
        when there is one, was built from), as (first response column, logits (b, k, V)) pieces."""
        inputs = {  # every column but the last: the last response token is never an input
            "input_ids": mb.input_ids[:, :-1],
            "attention_mask": mb.attention_mask[:, :-1],
            "position_ids": mb.position_ids[:, :-1],
        }
        if prefix is None:
            return [(0, model(**inputs, use_cache=False, logits_to_keep=r).logits)]
        pieces = [(0, prefix.last_logits(rows)[:, None, :])]
        if r > 1:
            pieces.append((1, prefix.logits(rows, **inputs, logits_to_keep=r - 1)))
        return pieces

    def _token_stats(
        self, logits: Tensor, labels: Tensor, with_entropy: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Log-probs of ``labels`` (b, k) under logits (b, k, V) / temperature, and entropies (b, k),
        a chunk of positions at a time (``rlvr.algorithms.logprobs``). The entropy is a metric, and a loss
        term (with a gradient) only when entropy_coef > 0."""
        return token_logprobs(
            logits,
            labels,
            self.temperature,
            with_entropy=with_entropy,
            entropy_grad=self.algo.entropy_coef > 0,
            chunk_tokens=self.trainer_cfg.logprob_chunk_tokens,
            overwrite_logits=True,  # read here only: the backward writes their gradient over them
        )

    @staticmethod
    def _join(stats: list[tuple[Tensor, Tensor | None]], pad_to: int) -> tuple[Tensor, Tensor | None]:
        """Pieces of (log-probs, entropies) side by side, padded with zeros to ``pad_to`` columns."""
        logprobs = torch.cat([s[0] for s in stats], dim=1)
        pad = (0, pad_to - logprobs.size(1))
        entropies = [e for _, e in stats if e is not None]  # all pieces or none have them
        entropy = F.pad(torch.cat(entropies, dim=1), pad) if entropies else None
        return F.pad(logprobs, pad), entropy

    @torch.no_grad()
    def logprobs(self, batch: TokenBatch, reference: bool = False) -> Tensor:
        """Per-token log-probs (B, R) of the policy (or of the reference) on ``batch``, no gradient."""
        model = self.model
        ctx: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if reference:
            if self.reference is None:
                raise ValueError("no reference model: set algorithm.kl_coef > 0 to load one")
            if isinstance(self.reference, str):  # "adapter": the peft policy with its adapter disabled
                ctx = _adapter_disabled(self.model)
            else:
                model = self.reference
        was_training = self.model.training
        self.model.eval()
        out = torch.zeros(batch.size, batch.response_width)
        with ctx, hint("the learner's log-prob pass", self._memory_settings()):
            for rows in self._micro_batches(batch):
                mb = batch.select(rows).drop_prompt_padding().to(self.device)
                out[rows] = self._forward(model, mb, with_entropy=False)[0].float().cpu()
        self.model.train(was_training)
        return out

    def _micro_batches(self, batch: TokenBatch) -> list[Tensor]:
        """Row indices (b_i,) of each forward/backward (``rlvr.training.microbatch``)."""
        return micro_batches(
            batch.prompt_lengths(),
            batch.response_lengths(),
            self.trainer_cfg.micro_batch_size,
            self.trainer_cfg.max_tokens_per_micro_batch,
        )

    def _memory_settings(self) -> str:
        """What to lower when the learner runs out of memory."""
        t = self.trainer_cfg
        return (
            f"lower trainer.max_tokens_per_micro_batch (now {t.max_tokens_per_micro_batch}) or "
            f"trainer.micro_batch_size (now {t.micro_batch_size}), or set model.gradient_checkpointing=true"
        )

    # ---- the update -----------------------------------------------------------------------------
    def update(
        self,
        batch: TokenBatch,
        advantages: Tensor,
        old_logprobs: Tensor | None,
        ref_logprobs: Tensor | None,
        use_behaviour_for_tis: bool = False,
    ) -> dict[str, float]:
        """PPO-style update: ``ppo_epochs`` passes, shuffled mini-batches, accumulated micro-batches.

        ``old_logprobs`` None means strictly on-policy (one epoch, one mini-batch): the current
        log-probs, detached, serve as pi_old, which saves a forward pass.
        """
        B = batch.size
        mini = self.trainer_cfg.mini_batch_size or B
        if old_logprobs is None and (self.trainer_cfg.ppo_epochs > 1 or mini < B):
            raise ValueError("old_logprobs are required with several epochs or mini-batches")
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, float] = defaultdict(float)
        # seeded by the schedule's position (checkpointed), so a resumed run shuffles mini-batches alike
        gen = torch.Generator().manual_seed(self.trainer_cfg.seed + self.scheduler.last_epoch)
        skipped = 0
        for _ in range(self.trainer_cfg.ppo_epochs):
            order = torch.randperm(B, generator=gen) if mini < B else torch.arange(B)
            for start in range(0, B, mini):
                rows = order[start : start + mini]
                with hint("the learner's update", self._memory_settings()):
                    stats = self._mini_batch_step(
                        batch.select(rows),
                        advantages[rows],
                        None if old_logprobs is None else old_logprobs[rows],
                        None if ref_logprobs is None else ref_logprobs[rows],
                        use_behaviour_for_tis,
                    )
                if stats is None:
                    skipped += 1
                    continue
                for k, v in stats.items():
                    sums[k] += v
                    counts[k] += 1
        self.scheduler.step()
        metrics = {k: sums[k] / counts[k] for k in sums if counts[k] > 0}
        metrics["train/lr"] = self.optimizer.param_groups[0]["lr"]
        metrics["train/skipped_updates"] = float(skipped)
        self.nonfinite_streak = self.nonfinite_streak + 1 if skipped else 0
        return metrics

    def _mini_batch_step(self, mb_all, adv, old, ref, use_tis) -> dict[str, float] | None:
        """One optimizer step over a mini-batch; None when the loss or gradient was not finite.

        Loss terms are aggregated with the mini-batch's global counts, so micro-batch values add up;
        the policy loss's own metrics are averaged over micro-batches weighted by their token counts.
        Rows that cannot contribute a gradient are left out first (``_rows_to_train``); the counts stay
        those of the whole mini-batch, so the loss and its gradient are unchanged.
        """
        num_tokens = float(mb_all.response_mask.sum())
        agg = partial(
            self.aggregation, num_tokens=num_tokens, num_seqs=float(mb_all.size), norm_len=self.norm_len
        )
        rows = self._rows_to_train(adv, mb_all.response_mask, ref)
        skipped = 0.0 if rows is None else 1.0 - rows.numel() / mb_all.size
        if rows is not None:
            mb_all, adv = mb_all.select(rows), adv[rows]
            old = None if old is None else old[rows]
            ref = None if ref is None else ref[rows]
        trained_tokens = max(float(mb_all.response_mask.sum()), 1.0)
        summed: dict[str, float] = defaultdict(float)
        summed["train/pg_loss"] = 0.0  # also when every row was left out: the loss is then exactly 0
        self.optimizer.zero_grad(set_to_none=True)
        for sl in self._micro_batches(mb_all):
            mb = mb_all.select(sl).drop_prompt_padding().to(self.device)
            loss = self._micro_loss(mb, sl, adv, old, ref, agg, use_tis, trained_tokens, summed)
            if not torch.isfinite(loss):
                self.optimizer.zero_grad(set_to_none=True)
                return None
            loss.backward()
        if mb_all.size == 0:  # every row left out: the gradient is 0, and AdamW still takes its step
            for p in self.model.parameters():
                if p.requires_grad:
                    p.grad = torch.zeros_like(p)
        grad_norm = self._clip_gradients()
        if not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        summed["train/grad_norm"] = float(grad_norm)
        summed["train/skipped_rows_frac"] = skipped
        return dict(summed)

    def _micro_loss(self, mb, sl, adv, old, ref, agg, use_tis, trained_tokens, summed) -> Tensor:
        """The loss of micro-batch ``mb`` (rows ``sl`` of the mini-batch whose ``adv``, ``old``, ``ref``
        are given), aggregated with the mini-batch's counts by ``agg``; its metrics are added to
        ``summed``, the policy loss's own weighted by the micro-batch's share of ``trained_tokens``."""
        mask = mb.response_mask
        logp, entropy = self._forward(self.model, mb, with_entropy=True)
        assert entropy is not None, "asked for with_entropy=True"
        old_mb = logp.detach() if old is None else old[sl].to(self.device)
        behaviour = mb.behaviour_logprobs if use_tis else None
        loss, loss_metrics = self.policy_loss(
            logp, old_mb, adv[sl].to(self.device), mask, self.algo, agg, behaviour_logprobs=behaviour
        )
        summed["train/pg_loss"] += loss.item()
        if self._kl_loss_term(ref):
            kl = agg(kl_penalty(logp, ref[sl].to(self.device), self.algo.kl_estimator), mask)
            loss = loss + self.algo.kl_coef * kl
            summed["train/kl_loss"] += kl.item()
        if self.algo.entropy_coef > 0:
            loss = loss - self.algo.entropy_coef * agg(entropy, mask)
        token_share = float(mask.sum()) / trained_tokens
        summed["train/entropy"] += float((entropy.detach() * mask).sum()) / trained_tokens
        for k, v in loss_metrics.items():
            summed[f"train/{k}"] += float(v) * token_share
        return loss

    def _kl_loss_term(self, ref: Tensor | None) -> bool:
        """Whether the loss has a KL term (reference log-probs given, kl_coef > 0, not in the reward)."""
        return ref is not None and self.algo.kl_coef > 0 and not self.algo.kl_in_reward

    def _rows_to_train(self, adv: Tensor, response_mask: Tensor, ref: Tensor | None) -> Tensor | None:
        """Rows (b,) of a mini-batch that the update filters keep, or None to train every row.

        A row whose advantage is 0 on all its tokens has a policy loss of exactly 0 and no gradient under
        a loss that declares ``zero_at_zero_advantage``, unless a KL loss term or an entropy bonus gives it
        one; the ``zero_advantage`` filter then leaves it out.
        """
        keep, _ = self._update_filter(adv, response_mask, ref)
        return None if keep is None or bool(keep.all()) else keep.nonzero().flatten()

    def _update_filter(
        self, adv: Tensor, response_mask: Tensor, ref: Tensor | None
    ) -> tuple[Tensor | None, dict[str, float]]:
        """keep (b,) bool after the update filters in order (None when they do not apply) and the rows
        each removed, as ``filter/<name>/removed``."""
        removed = {f"filter/{name}/removed": 0.0 for name, _ in self.update_filters}
        if not self.update_filters or self._kl_loss_term(ref) or self.algo.entropy_coef > 0:
            return None, removed
        keep = torch.ones(adv.size(0), dtype=torch.bool, device=adv.device)  # (b,)
        for name, f in self.update_filters:
            k = f.fn(FilterInput(kept=keep, advantages=adv, response_mask=response_mask))
            removed[f"filter/{name}/removed"] = float((keep & ~k).sum())
            keep = keep & k
        return keep, removed

    def filter_metrics(self, adv: Tensor, response_mask: Tensor, ref: Tensor | None) -> dict[str, float]:
        """The rows of a whole batch each update filter leaves out of every pass (rows are independent,
        so this is what the mini-batches skip together)."""
        return self._update_filter(adv, response_mask, ref)[1]

    def _clip_gradients(self) -> Tensor:
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.optim_cfg.max_grad_norm or float("inf")
        return torch.nn.utils.clip_grad_norm_(params, max_norm)


def shares_prompts(setting: bool | None, device: torch.device) -> bool:
    """``trainer.shared_prefix`` resolved for a learner on ``device``: None means on a CPU only."""
    return device.type == "cpu" if setting is None else setting


def _adapter_disabled(model: torch.nn.Module) -> contextlib.AbstractContextManager[Any]:
    """``model.disable_adapter()``: the peft policy with its adapter switched off, which serves as the
    reference when the learner was built with ``reference="adapter"``."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        raise TypeError(f"reference='adapter' needs a peft model as the policy, got {type(model).__name__}")
    return model.disable_adapter()
