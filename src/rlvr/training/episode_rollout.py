"""Multi-turn samples in the loop: episodes as a rollout batch, their learning targets, their eval.

A batch may mix samples with an ``env`` (played by :func:`rlvr.training.episodes.run_episodes` on the
rollout role's engine) and single-turn samples (generated and scored by the usual path). Every row of
the batch then belongs to a trajectory: an episode's rows, or a single-turn completion as a trajectory
of one row with its verifier score on its last token. :class:`EpisodeTargets` carries the token rewards
and the row -> trajectory -> group maps to the learner, which computes advantages over trajectories.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from rlvr.algorithms.multiturn import turn_end_rewards
from rlvr.data.sample import Sample
from rlvr.envs import EnvExecutor
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import SamplingParams
from rlvr.training.batch import TokenBatch, last_token_rewards
from rlvr.training.collect import RolloutBatch
from rlvr.training.episode_metrics import episode_metrics
from rlvr.training.episodes import Generate, Trajectory, run_episodes
from rlvr.training.multiturn_config import MultiTurnConfig


@dataclass
class EpisodeTargets:
    """What the learner needs besides the token batch for multi-turn rows (plain tensors).

    token_rewards (B, R): turn rewards on each turn's last generated token, a trajectory's final reward
    (or a single-turn row's score) on its last generated token; row_traj (B,): each row's trajectory;
    traj_group (N,): each trajectory's group (its sample; an errored trajectory is alone in its group).
    """

    token_rewards: Tensor
    row_traj: Tensor
    traj_group: Tensor


def episodes_batch(
    samples: list[Sample], trajectories: list[Trajectory], key_prefix: str = ""
) -> RolloutBatch:
    """Trajectories as a RolloutBatch: one completion per row (its ``loss_mask`` set), and for each row a
    request (for per-data_source metrics) and a result carrying its trajectory's return and error."""
    kept: list[Trajectory] = []
    batch = RolloutBatch(samples=list(samples), trajectories=kept)
    for t in trajectories:
        sample = samples[t.prompt_index]
        text = "".join(x for kind, x in t.transcript if kind == "action")
        finish = "length" if t.stop_reason == "max_total_tokens" else "stop"
        result = RewardResult(t.total_reward, correct=t.total_reward > 0, error=t.error)
        for row in t.rows:
            if not row.token_ids:  # an environment that failed at reset: nothing was generated
                continue
            batch.completions.append(row.completion(t.prompt_index, t.sample_index, finish, text))
            batch.requests.append(
                ScoreRequest(
                    text,
                    sample.reward,
                    f"{key_prefix}{sample.id}#{t.sample_index}",
                    len(row.token_ids),
                    sample.data_source,
                )
            )
            batch.results.append(result)
            batch.row_traj.append(len(kept))
        kept.append(t)
    batch.stats.update(episode_metrics(trajectories))
    return batch


def merge_batches(samples: list[Sample], parts: list[tuple[list[int], RolloutBatch]]) -> RolloutBatch:
    """One batch over ``samples`` from batches over subsets of them (``positions``: each subset's
    indices into ``samples``); prompt indices and trajectory indices are remapped."""
    trajectories: list[Trajectory] = []
    out = RolloutBatch(samples=list(samples), trajectories=trajectories)
    for positions, part in parts:
        traj_offset = len(trajectories)
        own = part.trajectories is not None
        for j, (c, q, r) in enumerate(zip(part.completions, part.requests, part.results, strict=True)):
            c.prompt_index = positions[c.prompt_index]
            out.completions.append(c)
            out.requests.append(q)
            out.results.append(r)
            out.row_traj.append(traj_offset + part.row_traj[j] if own else -1)  # -1: a single-turn row
        for t in part.trajectories or []:
            t.prompt_index = positions[t.prompt_index]
            trajectories.append(t)
        out.stats.update(part.stats)
    return out


def episode_targets(rollouts: RolloutBatch, batch: TokenBatch) -> EpisodeTargets:
    """Token rewards and trajectory maps of a (possibly mixed) batch; ``batch`` is its collated rows."""
    B, R = batch.size, batch.response_width
    trajs = rollouts.trajectories or []
    row_traj = list(rollouts.row_traj)
    group = [t.prompt_index if t.error is None else -1 for t in trajs]
    token_rewards = torch.zeros((B, R))
    single = [i for i, t in enumerate(row_traj) if t < 0]
    for i in single:  # a single-turn completion: a trajectory of its own, its score on its last token
        row_traj[i] = len(group)
        r = rollouts.results[i]
        group.append(rollouts.completions[i].prompt_index if r.error is None else -1)
    if single:
        idx = torch.tensor(single)
        scores = torch.tensor(
            [0.0 if rollouts.results[i].error else rollouts.results[i].score for i in single]
        )
        token_rewards[idx] = last_token_rewards(scores, batch.response_mask[idx])
    last_row = {t: i for i, t in enumerate(row_traj)}  # a trajectory's final reward goes on its last row
    for i in range(len(rollouts.completions)):
        t = row_traj[i]
        if t >= len(trajs):
            continue
        traj = trajs[t]
        row = _row_of(traj, i, row_traj)
        ends = torch.tensor([row.turn_ends], dtype=torch.long)
        rewards = torch.tensor([row.turn_rewards], dtype=torch.float32)
        token_rewards[i] += turn_end_rewards(ends, rewards, R)[0]
        if last_row[t] == i and row.turn_ends:
            token_rewards[i, row.turn_ends[-1]] += traj.final_reward
    groups = torch.tensor(group, dtype=torch.long)
    lonely = groups < 0  # errored trajectories: each in a group of its own
    groups[lonely] = groups.max().clamp_min(0) + 1 + torch.arange(int(lonely.sum()))
    return EpisodeTargets(token_rewards, torch.tensor(row_traj, dtype=torch.long), groups)


def _row_of(traj: Trajectory, i: int, row_traj: list[int]):
    """The EpisodeRow behind batch row ``i`` (the k-th row of its trajectory in the batch)."""
    k = sum(1 for j in range(i) if row_traj[j] == row_traj[i])
    rows = [r for r in traj.rows if r.token_ids]
    return rows[k]


def evaluate_episodes(
    generate: Generate,
    tokenizer,
    samples: list[Sample],
    params: SamplingParams,
    cfg: MultiTurnConfig,
    executor: EnvExecutor,
    prefix: str = "eval",
) -> dict[str, float]:
    """Held-out episodes (greedy with temperature 0): ``{prefix}/episode/<env>/success_rate`` and the
    other episode metrics."""
    trajs = run_episodes(generate, tokenizer, samples, params, cfg, executor)
    return {f"{prefix}/{k}": v for k, v in episode_metrics(trajs).items()}


def split_by_env(samples: list[Sample]) -> tuple[list[int], list[int]]:
    """Indices of the samples with an environment and of those without."""
    with_env = [i for i, s in enumerate(samples) if s.env is not None]
    return with_env, [i for i, s in enumerate(samples) if s.env is None]


def generate_mixed(
    samples: list[Sample],
    single_turn: Callable[[list[Sample]], RolloutBatch],
    episodes: Callable[[list[Sample]], RolloutBatch],
) -> RolloutBatch:
    """A batch of mixed samples: episodes for those with an ``env``, the single-turn path for the rest."""
    with_env, without = split_by_env(samples)
    parts = []
    if with_env:
        parts.append((with_env, episodes([samples[i] for i in with_env])))
    if without:
        parts.append((without, single_turn([samples[i] for i in without])))
    return merge_batches(samples, parts)


class EpisodeRollout:
    """Plays the episodes of a batch's multi-turn samples on the rollout role (its ``generate``) and
    evaluates held-out ones. Owns the environment thread pool."""

    def __init__(self, cfg: MultiTurnConfig, tokenizer) -> None:
        self.cfg, self.tokenizer = cfg, tokenizer
        self.executor = EnvExecutor(cfg.env_workers, cfg.env_timeout_s)

    def collect(
        self,
        generate: Generate,
        samples: list[Sample],
        params: SamplingParams,
        key_prefix: str,
        perf: dict[str, float],
    ) -> RolloutBatch:
        """``params.n`` episodes of each sample as a RolloutBatch; generation time and tokens go to ``perf``."""

        def timed(prompts: list[list[int]], p: SamplingParams):
            t0 = time.perf_counter()
            out = generate(prompts, p)
            perf["perf/gen_s"] = perf.get("perf/gen_s", 0.0) + time.perf_counter() - t0
            perf["perf/gen_tokens"] = perf.get("perf/gen_tokens", 0.0) + sum(len(c.token_ids) for c in out)
            return out

        t0 = time.perf_counter()
        trajectories = run_episodes(timed, self.tokenizer, samples, params, self.cfg, self.executor)
        perf["perf/episodes_s"] = perf.get("perf/episodes_s", 0.0) + time.perf_counter() - t0
        return episodes_batch(samples, trajectories, key_prefix)

    def evaluate(self, generate: Generate, samples: list[Sample], params: SamplingParams) -> dict[str, float]:
        return evaluate_episodes(generate, self.tokenizer, samples, params, self.cfg, self.executor)

    def close(self) -> None:
        self.executor.close()
