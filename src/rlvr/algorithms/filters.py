"""The filter stage: which completions of a scored batch enter the loss. A registry of pure functions.

A filter takes a :class:`FilterInput` (the batch's per-row facts as tensors) and returns ``keep``, a (B,)
bool mask. The loop applies the configured list (``filters.apply``) in order: each filter sees in
``kept`` the rows the filters before it left in, and the loop logs how many rows each removed
(``filter/<name>/removed``). Where a filter acts is its registered ``stage``:

- ``"collect"``: a group rule, applied to each freshly scored round while the batch is collected. Groups
  with no kept row leave the batch and more prompts are generated (dynamic sampling's rounds).
- ``"loss"``: rows not kept are masked out of the loss. With ``drop_from_groups`` they also leave their
  group's statistics (an errored sample's score is unknown, so it must not move its group's baseline).
- ``"update"``: applied by the learner once the advantages are known. Rows not kept are left out of the
  forward and backward passes; the loss still divides by every row's tokens. The learner applies these
  only with a policy loss registered with ``zero_at_zero_advantage=True`` (see ``losses.py``), and only
  when nothing else (a KL loss term, an entropy bonus) gives such rows a gradient.

The built-in filters:

- ``errored`` (loss, drop_from_groups): a sample whose verification failed trains nothing and is counted.
- ``overlong`` (loss): DAPO's overlong filtering (Yu et al. 2025, arXiv 2503.14476): mask truncated
  samples (finish reason 'length') out of the loss, so a response cut off mid-thought is not punished
  as if it were wrong. They stay in their group's statistics.
- ``dynamic_sampling`` (collect): DAPO's dynamic sampling: a group whose rewards are all equal (all
  correct or all wrong) has zero advantage under any group baseline and only dilutes the batch; keep
  groups whose kept rows' scores are not all equal (0 < #correct < G for 0/1 rewards).
- ``zero_advantage`` (update): a row whose advantage is 0 on every response token has a policy loss of
  exactly 0 and no gradient (for losses that declare it), so it is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from rlvr.registry import Registry

from .advantages import group_stats
from .registries import FILTERS as _FILTERS

Stage = Literal["collect", "loss", "update"]


@dataclass(frozen=True)
class FilterInput:
    """What a filter sees of a scored batch: one entry per completion. Fields a stage does not know yet
    are None (the update stage knows only advantages and the response mask)."""

    kept: Tensor  # (B,) bool: rows the filters before this one left in
    scores: Tensor | None = None  # (B,) float; errored rows hold 0
    group_index: Tensor | None = None  # (B,) long: the prompt each completion answers
    errored: Tensor | None = None  # (B,) bool: verification failed
    truncated: Tensor | None = None  # (B,) bool: finish reason 'length'
    advantages: Tensor | None = None  # (B, R)
    response_mask: Tensor | None = None  # (B, R)


@dataclass(frozen=True)
class BatchFilter:
    """A registered filter: ``fn(FilterInput) -> keep (B,) bool`` and where the loop applies it."""

    fn: Callable[[FilterInput], Tensor]
    stage: Stage
    drop_from_groups: bool = False


FILTERS: Registry[BatchFilter] = _FILTERS  # declared (names checked at load without torch) in registries.py


def register_filter(
    name: str, stage: Stage, drop_from_groups: bool = False
) -> Callable[[Callable[[FilterInput], Tensor]], Callable[[FilterInput], Tensor]]:
    """``@register_filter("name", stage)`` on ``fn(FilterInput) -> keep (B,) bool``."""

    def decorator(fn: Callable[[FilterInput], Tensor]) -> Callable[[FilterInput], Tensor]:
        FILTERS.register(name)(BatchFilter(fn, stage, drop_from_groups))
        return fn

    return decorator


def _need(x: FilterInput, field: str) -> Tensor:
    value = getattr(x, field)
    if value is None:
        raise ValueError(f"this filter needs FilterInput.{field}, which its stage does not have")
    return value


def informative_groups(scores: Tensor, group_index: Tensor, tol: float = 1e-8) -> Tensor:
    """keep_i = std(scores of i's group) > tol. (B,), (B,) -> (B,) bool (a group of one is dropped)."""
    assert scores.dim() == 1 and scores.shape == group_index.shape, (scores.shape, group_index.shape)
    _, std, _ = group_stats(scores.double(), group_index)
    return std > tol


def not_truncated(truncated: Tensor) -> Tensor:
    """keep_i = not truncated_i. (B,) bool -> (B,) bool"""
    assert truncated.dim() == 1 and truncated.dtype == torch.bool, truncated
    return ~truncated


@register_filter("errored", "loss", drop_from_groups=True)
def errored(x: FilterInput) -> Tensor:
    """keep_i = the verification of i did not fail. -> (B,) bool"""
    return ~_need(x, "errored")


@register_filter("overlong", "loss")
def overlong(x: FilterInput) -> Tensor:
    """keep_i = i was not truncated. -> (B,) bool"""
    return not_truncated(_need(x, "truncated"))


@register_filter("dynamic_sampling", "collect")
def dynamic_sampling(x: FilterInput) -> Tensor:
    """keep_i = the kept rows of i's group have unequal scores; every row of such a group is kept. -> (B,)"""
    scores, groups = _need(x, "scores"), _need(x, "group_index")
    informative = torch.zeros_like(x.kept)
    if bool(x.kept.any()):
        informative[x.kept] = informative_groups(scores[x.kept], groups[x.kept])
    return torch.isin(groups, groups[informative])


@register_filter("zero_advantage", "update")
def zero_advantage(x: FilterInput) -> Tensor:
    """keep_i = A_i,t != 0 on some response token t. (B, R) -> (B,) bool"""
    adv, mask = _need(x, "advantages"), _need(x, "response_mask")
    return ((adv != 0) & (mask > 0)).any(dim=-1)
