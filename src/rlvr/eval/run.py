"""``rlvr eval``: load a model (a run's checkpoint or a hub id) and evaluate it on data.eval: the verifiers'
accuracy on single-turn rows, episodes (success, return, turns per environment) on rows with an ``env``."""

from __future__ import annotations

import json
from pathlib import Path

from rlvr.config import RunConfig
from rlvr.tracking.logger import append_to_run


def run_eval(
    cfg: RunConfig, model: str | None = None, output: str | None = None, run_dir: str | None = None
) -> dict[str, float]:
    from rlvr.data.specs import load_dataset_specs
    from rlvr.eval.episodes import evaluate_mixed
    from rlvr.rewards.factory import router_for
    from rlvr.training.roles import RolloutRole
    from rlvr.training.trainer import eval_params

    if not cfg.data.eval:
        raise ValueError("data.eval is empty: give the recipe held-out datasets to evaluate on")
    if model:
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": model, "tiny": None})})
    worker = RolloutRole(cfg)  # the recipe's rollout.engine (hf or vllm) samples the answers
    router = router_for(cfg.reward)  # as training scores: in-process, a process pool or reward.server_url
    try:
        samples = load_dataset_specs(cfg.data.eval)
        # rows with an env are played as episodes (success, return, turns per environment)
        metrics = evaluate_mixed(worker.engine, samples, router, eval_params(cfg), cfg.eval.k, cfg.multiturn)
    finally:
        router.close()
        worker.close()
    if output:
        Path(output).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    if run_dir:
        append_to_run(Path(run_dir), metrics)
    return metrics
