"""Step time of synchronous vs one-step-off asynchronous training, measured side by side in one run.

    python benchmarks/async_vs_sync.py                       # local backend, ~2 minutes on 2 cores
    python benchmarks/async_vs_sync.py --backend ray         # learner and rollout in Ray actors
    python benchmarks/async_vs_sync.py --steps 20 --repeats 3 --prompts 32 --max-new-tokens 24

Both runs use the quickstart's tiny model and task, the same seed and settings; only
``trainer.max_staleness`` differs (0 vs 1, with ``algorithm.tis_cap=2``). The runs alternate
(sync, async, sync, async...) so that load from other processes falls on both alike. Each run's first
two steps are warm-up; the figure is the median ``perf/step_s`` over the rest, pooled over repeats, and
the per-role breakdown (generation, reward wait, log-probs, update, weight sync, learner idle) comes
from the same metrics. With one-step-off, generation of batch k+1 overlaps the update on batch k, so
the step time approaches max(generation, update) instead of their sum; on a 2-core machine the two
compete for the same cores, which bounds the gain.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rlvr.config import load_config
from rlvr.distributed.placement import build_roles
from rlvr.tracking.logger import read_metrics
from rlvr.training.trainer import ROLE_TIMINGS, RLTrainer

ROOT = Path(__file__).resolve().parents[1]
BREAKDOWN = ROLE_TIMINGS


def run(args: argparse.Namespace, staleness: int, out: Path) -> list[dict]:
    overrides = [
        f"trainer.output_dir={out}",
        f"trainer.steps={args.steps}",
        f"trainer.prompts_per_step={args.prompts}",
        f"rollout.max_new_tokens={args.max_new_tokens}",
        f"trainer.max_staleness={staleness}",
        "algorithm.tis_cap=2.0",
        "trainer.eval_every=0",
        "trainer.save_every=0",
        "monitor.log_samples_every=0",
        "data.eval=[]",
        f"model.num_threads={args.threads}",
    ]
    if args.backend == "ray":
        overrides += ["backend=ray", "ray.reward_workers=0", "ray.learner_cpus=1", "ray.rollout_cpus=1"]
    cfg = load_config(ROOT / "recipes" / "quickstart.yaml", overrides)
    trainer = RLTrainer(cfg, build_roles(cfg), show_progress=False)
    try:
        trainer.fit()
    finally:
        trainer.close()
    return [r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "perf/step_s" in r]


def summarize(rows: list[dict]) -> dict:
    steady = [r for r in rows if r["step"] > 2]
    out = {"step_s_median": statistics.median(r["perf/step_s"] for r in steady)}
    for key in BREAKDOWN:
        out[f"{key}_median"] = statistics.median(r.get(f"perf/{key}", 0.0) for r in steady)
    out["staleness_max"] = max(r.get("async/staleness", 0.0) for r in rows)
    out["tis_ratio_mean"] = statistics.mean(r.get("train/tis_ratio_mean", 1.0) for r in steady)
    out["reward_last5"] = statistics.mean(r["reward/all/reward_mean"] for r in rows[-5:])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--prompts", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "async_vs_sync.json"))
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.backend == "ray":
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows: dict[str, list[dict]] = {"sync": [], "one_step_off": []}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for name, staleness in (("sync", 0), ("one_step_off", 1)):
                r = run(args, staleness, Path(tmp) / f"{name}-{i}")
                rows[name].extend(r)
                print(
                    f"  repeat {i + 1} {name}: median step {summarize(r)['step_s_median']:.3f} s", flush=True
                )
    result = {name: summarize(r) for name, r in rows.items()}
    ratio = result["sync"]["step_s_median"] / result["one_step_off"]["step_s_median"]
    print(f"\n{'':14s}{'step s':>8s}" + "".join(f"{k.removesuffix('_s'):>14s}" for k in BREAKDOWN))
    for name, s in result.items():
        print(
            f"{name:14s}{s['step_s_median']:8.3f}" + "".join(f"{s[k + '_median']:14.3f}" for k in BREAKDOWN)
        )
    print(
        f"\nsync / one-step-off step time: {ratio:.2f}x  (backend {args.backend}, {time.time() - t0:.0f} s total)"
    )
    settings = {k: v for k, v in vars(args).items()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"settings": settings, "ratio": ratio, **result}, indent=2))
    print(f"wrote {args.output}")
    if args.backend == "ray":
        import ray

        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
