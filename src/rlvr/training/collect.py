"""Collecting a rollout batch: generate, score, and (optionally) group filters such as DAPO's dynamic
sampling.

With a group filter (``keep_groups``; see :class:`rlvr.training.filtering.FilterStage`), prompts are
over-sampled, the groups it drops (dynamic sampling: those whose rewards are all equal) leave the batch,
and generation repeats until ``target_groups`` groups are gathered or ``max_rounds`` is reached (then the
batch goes ahead with what it has, and the shortfall is reported).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rlvr.data.sample import Sample
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import Completion


@dataclass
class RolloutBatch:
    """Prompts and their scored completions; ``completions[j].prompt_index`` indexes ``samples``."""

    samples: list[Sample] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    requests: list[ScoreRequest] = field(default_factory=list)
    results: list[RewardResult] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    # multi-turn: the episodes (rlvr.training.episodes.Trajectory) and each completion's trajectory
    # (-1: a single-turn completion); None for a purely single-turn batch
    trajectories: list | None = None
    row_traj: list[int] = field(default_factory=list)

    def extend(self, other: RolloutBatch, keep_prompts: list[int]) -> None:
        """Append the groups of ``other`` whose prompt index is in ``keep_prompts`` (re-indexed)."""
        remap = {}
        for p in keep_prompts:
            remap[p] = len(self.samples)
            self.samples.append(other.samples[p])
        for c, q, r in zip(other.completions, other.requests, other.results, strict=True):
            if c.prompt_index in remap:
                c.prompt_index = remap[c.prompt_index]
                self.completions.append(c)
                self.requests.append(q)
                self.results.append(r)


KeepGroups = Callable[[RolloutBatch], tuple[list[int], dict[str, float]]]
"""A scored round -> (prompt indices of the groups that stay, sorted; rows each filter removed)."""


def dropped_outcomes(batch: RolloutBatch, kept: list[int]) -> tuple[list[int], list[int]]:
    """Prompt indices of the groups not in ``kept``: (all correct, the rest: all wrong or equal)."""
    by_prompt: dict[int, list[bool]] = {}
    for c, r in zip(batch.completions, batch.results, strict=True):
        by_prompt.setdefault(c.prompt_index, []).append(r.correct is True)
    rest = [p for p in range(len(batch.samples)) if p not in set(kept)]
    all_correct = [p for p in rest if all(by_prompt.get(p, [False]))]
    return all_correct, [p for p in rest if p not in set(all_correct)]


def collect(
    next_prompts: Callable[[int], list[Sample]],
    generate_and_score: Callable[[list[Sample]], RolloutBatch],
    target_groups: int,
    keep_groups: KeepGroups | None = None,
    max_rounds: int = 4,
    oversample: float = 1.0,
) -> RolloutBatch:
    """One training batch of ``target_groups`` prompt groups (fewer only if the group filters ran out of
    rounds). ``next_prompts(k)`` draws k prompts from the sampler; ``generate_and_score`` does the rest;
    ``keep_groups`` (the collect-stage filters, e.g. dynamic sampling) says which groups of a round stay."""
    t0 = time.perf_counter()
    if keep_groups is None:
        batch = generate_and_score(next_prompts(target_groups))
        batch.stats.update({"rollout/rounds": 1.0, "rollout/prompts_sampled": float(target_groups)})
        return batch
    out = RolloutBatch()
    dropped_correct = dropped_wrong = sampled = rounds = 0
    removed: dict[str, float] = {}
    while len(out.samples) < target_groups and rounds < max_rounds:
        want = target_groups - len(out.samples)
        ask = max(want, math.ceil(want * oversample))
        fresh = generate_and_score(next_prompts(ask))
        kept, round_removed = keep_groups(fresh)
        all_correct, all_wrong = dropped_outcomes(fresh, kept)
        out.extend(fresh, kept[:want])
        for k, v in round_removed.items():
            removed[k] = removed.get(k, 0.0) + v
        dropped_correct, dropped_wrong = dropped_correct + len(all_correct), dropped_wrong + len(all_wrong)
        sampled, rounds = sampled + ask, rounds + 1
    out.stats = {
        "rollout/rounds": float(rounds),
        "rollout/prompts_sampled": float(sampled),
        "rollout/groups_kept": float(len(out.samples)),
        "rollout/groups_dropped_all_correct": float(dropped_correct),
        "rollout/groups_dropped_all_wrong": float(dropped_wrong),
        "rollout/groups_short": float(target_groups - len(out.samples)),
        "perf/collect_s": time.perf_counter() - t0,
        **removed,
    }
    return out
