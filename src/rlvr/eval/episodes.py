"""Held-out evaluation of a data set that mixes single-turn rows and episodes (rows with an ``env``).

Single-turn rows are scored by their verifiers (:func:`rlvr.eval.evaluate.evaluate`: accuracy,
pass@k, maj@n); episode rows are played with the environment (greedy unless ``eval`` says otherwise)
and report, per environment, ``{prefix}/episode/<env>/success_rate``, ``return_mean``,
``turns_mean``, the stop reasons and the other episode metrics (:mod:`rlvr.training.episode_metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rlvr.data.sample import Sample
from rlvr.envs import EnvExecutor
from rlvr.eval.evaluate import evaluate
from rlvr.rewards.router import Scorer
from rlvr.rollout.engine import CompletionSampler
from rlvr.rollout.types import SamplingParams
from rlvr.training.episode_rollout import evaluate_episodes, split_by_env
from rlvr.training.multiturn_config import MultiTurnConfig


def evaluate_mixed(
    engine: CompletionSampler,
    samples: Sequence[Sample],
    router: Scorer,
    params: SamplingParams,
    ks: Sequence[int],
    multiturn: MultiTurnConfig,
    prefix: str = "eval",
) -> dict[str, float]:
    """The metrics of :func:`evaluate` on the single-turn rows and of the episodes on the others."""
    with_env, without = split_by_env(list(samples))
    metrics: dict[str, float] = {}
    if without:
        metrics.update(evaluate(engine, [samples[i] for i in without], router, params, ks, prefix))
    if with_env:
        executor = EnvExecutor(multiturn.env_workers, multiturn.env_timeout_s)
        try:
            episodes = [samples[i] for i in with_env]
            metrics.update(
                evaluate_episodes(
                    engine.generate, engine.tokenizer, episodes, params, multiturn, executor, prefix
                )
            )
        finally:
            executor.close()
    return metrics


def episode_summary(metrics: dict[str, float], prefix: str = "eval") -> list[str]:
    """One line per environment (and one over ``all`` of several): success, mean return and turns."""
    lines = []
    head = f"{prefix}/episode/"
    envs = sorted(
        k[len(head) : -len("/success_rate")]
        for k in metrics
        if k.startswith(head) and k.endswith("/success_rate")
    )
    for env in [e for e in envs if e != "all"] + (["all"] if len(envs) > 2 else []):
        m = {
            k: metrics[f"{head}{env}/{k}"]
            for k in ("success_rate", "return_mean", "turns_mean", "trajectories")
        }
        lines.append(
            f"{env}: success {m['success_rate']:.3f}, mean return {m['return_mean']:.3f}, "
            f"turns {m['turns_mean']:.2f} ({m['trajectories']:.0f} episodes)"
        )
    return lines
