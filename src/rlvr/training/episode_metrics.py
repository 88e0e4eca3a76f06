"""Metrics of a batch of episodes, per environment (``episode/<env>/...``) and over all of them."""

from __future__ import annotations

from collections import defaultdict

from rlvr.training.episodes import STOP_REASONS, Trajectory


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def episode_metrics(trajectories: list[Trajectory]) -> dict[str, float]:
    """Turns per trajectory, stop reasons, environment step latency and errors, tokens generated vs
    observed, per-turn reward (over all turns and by turn index) and total reward, rows started by
    templates that rewrite history, and the environments' own metrics (means), for each environment
    name and for ``all``."""
    groups: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajectories:
        groups[t.env_name].append(t)
        groups["all"].append(t)
    metrics: dict[str, float] = {}
    for name, trajs in groups.items():
        m = _group(trajs)
        metrics.update({f"episode/{name}/{k}": v for k, v in m.items()})
    return metrics


def _success(t: Trajectory) -> float:
    """The environment's last ``success`` metric when it reports one, else whether the return is > 0."""
    reported = t.env_metrics.get("success")
    return reported[-1] if reported else float(t.total_reward > 0)


def _group(trajs: list[Trajectory]) -> dict[str, float]:
    latencies = [s for t in trajs for s in t.step_latency_s]
    ok = [t for t in trajs if t.error is None]
    m = {
        "trajectories": float(len(trajs)),
        "turns_mean": _mean([float(t.turns) for t in trajs]),
        "env_errors": float(sum(t.error is not None for t in trajs)),
        "env_step_latency_s_mean": _mean(latencies),
        "env_step_latency_s_max": max(latencies, default=0.0),
        "tokens_generated_mean": _mean([float(sum(sum(r.loss_mask) for r in t.rows)) for t in trajs]),
        "tokens_observed_mean": _mean(
            [float(sum(len(r.loss_mask) - sum(r.loss_mask) for r in t.rows)) for t in trajs]
        ),
        "turn_reward_mean": _mean([r for t in ok for r in t.turn_rewards]),
        "return_mean": _mean([t.total_reward for t in ok]),
        "success_rate": _mean([_success(t) for t in ok]),
        "rows_broken_by_template": float(sum(len(t.rows) - 1 for t in trajs)),
        "turn_truncation_rate": _mean([float(f == "length") for t in trajs for f in t.finish_reasons]),
    }
    by_turn: dict[int, list[float]] = defaultdict(list)
    for t in ok:
        for turn, r in enumerate(t.turn_rewards, start=1):
            by_turn[turn].append(r)
    for turn in sorted(by_turn):  # the reward of each turn, over the trajectories that played it
        m[f"turn_reward/turn_{turn}"] = _mean(by_turn[turn])
    for reason in STOP_REASONS:
        m[f"stop/{reason}"] = _mean([float(t.stop_reason == reason) for t in trajs])
    env_keys = sorted({k for t in trajs for k in t.env_metrics})
    for k in env_keys:
        m[f"env/{k}"] = _mean([v for t in trajs for v in t.env_metrics.get(k, [])])
    return m
