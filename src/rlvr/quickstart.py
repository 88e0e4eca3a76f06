"""``rlvr quickstart``: build a tiny model, evaluate it, warm it up with SFT, train it with GRPO, and
print held-out accuracy at each stage. No downloads; a few minutes on a laptop CPU."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from rlvr.config import RunConfig, load_config


def quickstart_recipe() -> Path:
    return Path(str(resources.files("rlvr") / "recipes" / "quickstart.yaml"))


def _accuracy(trainer) -> float:
    return trainer.evaluate()["eval/all/accuracy"]


def run_quickstart(overrides: list[str] | None = None, show_progress: bool = True) -> dict[str, float]:
    from rlvr.api import build_trainer
    from rlvr.tracking.run_dir import new_run_dir
    from rlvr.training.sft import run_sft

    t_start = time.perf_counter()
    cfg: RunConfig = load_config(quickstart_recipe(), overrides)
    run_dir = new_run_dir(cfg.trainer.output_dir, cfg.name, cfg.trainer.run_name)
    print(f"rlvr quickstart: run directory {run_dir}")

    # Before SFT: evaluate the freshly initialised model (the same init run_sft starts from).
    base = build_trainer(cfg, run_dir=run_dir / "base", show_progress=False)
    acc_base = _accuracy(base)
    base.close()
    print(f"  held-out accuracy before SFT: {acc_base:6.1%}  ({len(base.eval_samples)} problems, greedy)")

    sft_dir = run_sft(cfg, run_dir, show_progress=show_progress)
    rl_cfg = cfg.model_copy(deep=True)
    rl_cfg.model.path, rl_cfg.model.tiny = str(sft_dir), None
    trainer = build_trainer(rl_cfg, run_dir=run_dir, show_progress=show_progress)
    acc_sft = _accuracy(trainer)
    print(f"  held-out accuracy after SFT:  {acc_sft:6.1%}")
    final = trainer.fit()
    trainer.close()
    if "eval/all/accuracy" not in final:  # a signal (or a dead role) stopped RL before its final eval
        print(
            f"  RL stopped early at step {trainer.step}; resume: rlvr train {run_dir / 'config.yaml'} --resume {run_dir}"
        )
        return {"before_sft": acc_base, "after_sft": acc_sft}
    acc_rl = final["eval/all/accuracy"]
    minutes = (time.perf_counter() - t_start) / 60
    print(f"  held-out accuracy after RL:   {acc_rl:6.1%}  ({100 * (acc_rl - acc_sft):+.1f} points over SFT)")
    print(
        f"  total time: {minutes:.1f} min; metrics: {run_dir / 'metrics.jsonl'}; model: {run_dir / 'final'}"
    )
    return {"before_sft": acc_base, "after_sft": acc_sft, "after_rl": acc_rl, "minutes": minutes}
