"""The learner's update on one rank of an FSDP2 group: its share of every mini-batch, exact across ranks.

Every rank receives the whole scored batch (token ids: small) and computes the advantages of every row
(a group's rows may be on different ranks). The epochs and mini-batches are drawn alike on every rank
(same seed); each mini-batch is then split into ``world_size`` contiguous shares and rank r trains on
share r. Exactness across ranks, as across micro-batches in one process:

- the mini-batch's token and sequence counts (and the tokens left after the update filters) are summed
  over the ranks first (:func:`global_counts`), and every rank aggregates its losses with them, so the
  ranks' losses add up to the whole mini-batch's loss;
- FSDP2 reduce-scatters the gradients as sums (``rlvr.distributed.fsdp``), so the ranks' gradients add
  up to the whole mini-batch's gradient; clipping uses the global norm;
- every rank runs the same number of forward/backward passes (the collectives must match): a rank with
  fewer micro-batches runs zero-weighted passes over a row of the batch, and each pass is one model call.

A NaN/inf loss on any rank skips the mini-batch on every rank (the decision is all-reduced).
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial

import torch
import torch.distributed as dist
from torch import Tensor

from rlvr.distributed.fsdp import all_reduce, full_tensor, sum_over_ranks
from rlvr.models.memory import hint
from rlvr.training.batch import TokenBatch
from rlvr.training.learner import Learner


def rank_share(size: int, rank: int, world_size: int) -> Tensor:
    """Rows (b,) of a batch of ``size`` rows that ``rank`` trains on: contiguous, sizes differ by <= 1."""
    return torch.tensor_split(torch.arange(size), world_size)[rank]


def global_counts(response_mask: Tensor, kept: Tensor | None) -> tuple[float, float, float]:
    """(tokens, sequences, trained tokens) of the whole mini-batch: this rank's share's counts summed over
    the ranks. response_mask (b, R) of the share; kept (k,) the rows the update filters keep (None: all)."""
    trained = response_mask if kept is None else response_mask[kept]
    local = torch.tensor(
        [float(response_mask.sum()), float(response_mask.size(0)), float(trained.sum())], dtype=torch.float64
    )
    tokens, seqs, trained_tokens = all_reduce(local).tolist()
    return tokens, seqs, trained_tokens


class ShardedLearner(Learner):
    """A :class:`~rlvr.training.learner.Learner` whose model (and reference) are wrapped with FSDP2 on a
    process group; the same epochs, mini-batches, losses and metrics as one process would compute."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.one_pass = True

    # ---- micro-batches in step across ranks ---------------------------------------------------------
    def _rank_micro_batches(self, share: TokenBatch) -> list[Tensor | None]:
        """Rows of each micro-batch of this rank's share, padded with None (a zero-weighted pass) up to the
        largest count of any rank (at least one: every rank takes part in the gradient's reduce-scatter)."""
        mbs: list[Tensor | None] = list(self._micro_batches(share)) if share.size else []
        most = int(all_reduce(torch.tensor([len(mbs)]), dist.ReduceOp.MAX).item())
        return mbs + [None] * (max(most, 1) - len(mbs))

    @staticmethod
    def _filler(batch: TokenBatch) -> TokenBatch:
        """One row of the batch, its loss masked out: the input of a zero-weighted pass."""
        return batch.select(torch.arange(1)).trim(1)

    @torch.no_grad()
    def logprobs(self, batch: TokenBatch, reference: bool = False) -> Tensor:
        """Per-token log-probs (B, R) of the whole batch: each rank computes its share's rows, then the
        shares are summed over the ranks into every rank's copy (exact: the other rows hold 0)."""
        model = self.model
        if reference:
            if not isinstance(self.reference, torch.nn.Module):
                raise ValueError("no reference model: set algorithm.kl_coef > 0 to load one")
            model = self.reference
        was_training = self.model.training
        self.model.eval()
        out = torch.zeros(batch.size, batch.response_width)
        mine = rank_share(batch.size, self.rank, self.world_size)
        share = batch.select(mine)
        with hint("the learner's log-prob pass", self._memory_settings()):
            for rows in self._rank_micro_batches(share):
                if rows is None:
                    self._forward(model, self._filler(batch).to(self.device), with_entropy=False)
                    continue
                mb = share.select(rows).drop_prompt_padding().to(self.device)
                out[mine[rows]] = self._forward(model, mb, with_entropy=False)[0].float().cpu()
        self.model.train(was_training)
        return all_reduce(out)

    # ---- one optimizer step -------------------------------------------------------------------------
    def _mini_batch_step(self, mb_all, adv, old, ref, use_tis) -> dict[str, float] | None:
        """This rank's share of one mini-batch; the same step on every rank (see the module docstring)."""
        mine = rank_share(mb_all.size, self.rank, self.world_size)
        share, adv = mb_all.select(mine), adv[mine]
        old = None if old is None else old[mine]
        ref = None if ref is None else ref[mine]
        kept = self._rows_to_train(adv, share.response_mask, ref) if share.size else None
        num_tokens, num_seqs, trained = global_counts(share.response_mask, kept)
        agg = partial(self.aggregation, num_tokens=num_tokens, num_seqs=num_seqs, norm_len=self.norm_len)
        n_kept = share.size if kept is None else kept.numel()
        if kept is not None:
            share, adv = share.select(kept), adv[kept]
            old = None if old is None else old[kept]
            ref = None if ref is None else ref[kept]
        summed: dict[str, float] = defaultdict(float)
        summed["train/pg_loss"] = 0.0
        finite = True
        self.optimizer.zero_grad(set_to_none=True)
        for sl in self._rank_micro_batches(share):
            if sl is None:
                logp, _ = self._forward(self.model, self._filler(mb_all).to(self.device), with_entropy=False)
                (logp.sum() * 0.0).backward()
                continue
            mb = share.select(sl).drop_prompt_padding().to(self.device)
            loss = self._micro_loss(mb, sl, adv, old, ref, agg, use_tis, max(trained, 1.0), summed)
            finite = finite and bool(torch.isfinite(loss))
            loss.backward()  # also when not finite: the other ranks wait for this pass's reduce-scatter
        summed["kept_rows"] = float(n_kept)
        totals = sum_over_ranks({**summed, "finite": float(finite)})
        grad_norm = self._clip_gradients()
        if totals["finite"] < self.world_size or not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        stats = {k: v for k, v in totals.items() if k.startswith("train/")}
        stats["train/grad_norm"] = float(grad_norm)
        stats["train/skipped_rows_frac"] = 1.0 - totals["kept_rows"] / mb_all.size
        return stats

    def _clip_gradients(self) -> Tensor:
        """The global gradient norm (over every rank's shards), after clipping to optim.max_grad_norm."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.optim_cfg.max_grad_norm or float("inf")
        return full_tensor(torch.nn.utils.clip_grad_norm_(params, max_norm))
