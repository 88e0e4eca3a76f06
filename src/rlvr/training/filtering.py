"""The loop's filter stage: the configured filters (:mod:`rlvr.algorithms.filters`), applied in order.

``collect`` asks :meth:`FilterStage.kept_groups` which groups of each freshly scored round stay (the
``collect``-stage filters: dynamic sampling); the trainer asks :meth:`FilterStage.loss_masks` which rows
of the collected batch enter the loss and their groups' statistics (the ``loss``-stage filters: errored,
overlong); the learner applies the ``update``-stage ones (zero advantage). Every filter's removals are
returned as ``filter/<name>/removed`` (rows this filter removed that the ones before it had left in).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from rlvr.algorithms.filters import FILTERS, BatchFilter, FilterInput
from rlvr.config import RunConfig
from rlvr.training.collect import RolloutBatch


def filter_names(cfg: RunConfig) -> list[str]:
    """``filters.apply``, or the list its switches describe when it is None."""
    f = cfg.filters
    if f.apply is not None:
        return list(f.apply)
    names = ["errored"]
    names += ["dynamic_sampling"] if f.dynamic_sampling else []
    names += ["overlong"] if f.overlong else []
    names += ["zero_advantage"] if cfg.trainer.skip_zero_advantage else []
    return names


def update_filter_names(cfg: RunConfig) -> list[str]:
    """The names of ``filter_names(cfg)`` that the learner applies (stage ``update``)."""
    return [n for n in filter_names(cfg) if FILTERS.get(n).stage == "update"]


def filter_input(rollouts: RolloutBatch) -> FilterInput:
    """A scored batch's per-row facts; an errored row's score is 0 (it is unknown)."""
    n = len(rollouts.completions)
    return FilterInput(
        kept=torch.ones(n, dtype=torch.bool),
        scores=torch.tensor([0.0 if r.error else r.score for r in rollouts.results], dtype=torch.float32),
        group_index=torch.tensor([c.prompt_index for c in rollouts.completions], dtype=torch.long),
        errored=torch.tensor([r.error is not None for r in rollouts.results], dtype=torch.bool),
        truncated=torch.tensor([c.finish_reason == "length" for c in rollouts.completions], dtype=torch.bool),
    )


class FilterStage:
    """The configured filters, by name, in order."""

    def __init__(self, names: list[str]) -> None:
        self.filters: list[tuple[str, BatchFilter]] = [(n, FILTERS.get(n)) for n in names]

    @property
    def collects(self) -> bool:
        """Whether a filter drops groups while collecting (then collecting runs in rounds)."""
        return any(f.stage == "collect" for _, f in self.filters)

    def _run(
        self, x: FilterInput, stages: tuple[str, ...]
    ) -> tuple[Tensor, Tensor, Tensor, dict[str, float]]:
        """(kept, kept by the collect filters, kept in group statistics, removed per filter) over the
        filters of ``stages``, in order."""
        kept = x.kept.clone()
        by_collect, in_groups = kept.clone(), kept.clone()
        removed: dict[str, float] = {}
        for name, f in self.filters:
            if f.stage not in stages:
                continue
            keep = f.fn(replace(x, kept=kept))
            assert keep.shape == kept.shape and keep.dtype == torch.bool, (name, keep.shape, keep.dtype)
            removed[f"filter/{name}/removed"] = float((kept & ~keep).sum())
            kept = kept & keep
            by_collect = by_collect & keep if f.stage == "collect" else by_collect
            in_groups = in_groups & keep if f.drop_from_groups else in_groups
        return kept, by_collect, in_groups, removed

    def kept_groups(self, rollouts: RolloutBatch) -> tuple[list[int], dict[str, float]]:
        """Prompt indices of the groups the collect filters keep (sorted), and what each removed. The loss
        filters run too, in their place in the list, so a group rule sees only rows they left in."""
        x = filter_input(rollouts)
        _, by_collect, _, removed = self._run(x, ("collect", "loss"))
        groups = torch.tensor([c.prompt_index for c in rollouts.completions], dtype=torch.long)
        kept = sorted({int(g) for g in groups[by_collect]})
        names = {f"filter/{n}/removed" for n, f in self.filters if f.stage == "collect"}
        return kept, {k: v for k, v in removed.items() if k in names}

    def loss_masks(self, rollouts: RolloutBatch) -> tuple[Tensor, Tensor, dict[str, float]]:
        """keep (B,) bool: rows that enter the loss; in_groups (B,) bool: rows that count in their group's
        statistics; and what each loss filter removed."""
        kept, _, in_groups, removed = self._run(filter_input(rollouts), ("loss",))
        return kept, in_groups, removed
