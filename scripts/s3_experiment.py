"""The s3 experiment on a CPU (issue 14; docs/s3.md, docs/reproductions.md): does RL on the Gain Beyond
RAG teach a tiny searcher to find the bridge entity of 2-hop questions?

    python scripts/s3_experiment.py --out /tmp/s3exp --sft-steps 400          # warm start + its eval
    python scripts/s3_experiment.py --out /tmp/s3exp --arms ppo:0 ppo:1 grpo:0 --jobs 3 trainer.steps=60
    python scripts/s3_experiment.py --out /tmp/s3exp --table                   # -> experiments/s3/

Every arm starts from the same warm start (``rlvr sft recipes/tiny/s3.yaml``: scripted episodes whose
query is a random entity of the results, ``rlvr.envs.s3.scripted``) and trains with ``rlvr train
recipes/tiny/s3.yaml`` (``ppo``: the recipe, GAE + critic; ``grpo``: ``algorithm.advantage=grpo
critic=null``), the overrides given applying to every arm. Held-out accuracy (greedy, 100 2-hop and 100
1-hop questions of the eval split) comes from the env's per-data-source metrics
(``eval/episode/s3/env/multihop_2hop/acc_s3``; ``acc_rag`` is naive RAG's, the same generator on
top-3 for the raw question); the bridge-query oracle is the scripted optimal searcher
(``policy: bridge``), measured without a model.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "recipes/tiny/s3.yaml"
ARMS = {"ppo": [], "grpo": ["algorithm.advantage=grpo", "critic=null"]}
SOURCES = ("multihop_2hop", "multihop_1hop")
ENV = "eval/episode/s3/env"
THREADS = ["model.num_threads=1"]


def _rlvr(args: list[str], log: Path) -> float:
    """Run ``rlvr ARGS`` in a subprocess (one torch thread), its output to ``log``; the wall seconds."""
    start = time.perf_counter()
    with open(log, "w") as f:
        cmd = [sys.executable, "-m", "rlvr.cli", "--quiet", *args]
        subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def accuracies(metrics: dict[str, float]) -> dict[str, float]:
    """Held-out accuracy with the searcher's context and with naive RAG's, per data source."""
    out = {}
    for source in SOURCES:
        out[f"{source}/acc_s3"] = metrics[f"{ENV}/{source}/acc_s3"]
        out[f"{source}/acc_rag"] = metrics[f"{ENV}/{source}/acc_rag"]
    for key in ("queries", "format_error", "turns_mean"):
        full = f"{ENV}/{key}" if key != "turns_mean" else "eval/episode/s3/turns_mean"
        if full in metrics:
            out[key] = metrics[full]
    return out


def evaluate(model: Path, overrides: list[str]) -> dict[str, float]:
    """The recipe's held-out eval of ``model`` without training (in this process)."""
    from rlvr.config import load_config
    from rlvr.distributed.placement import build_roles
    from rlvr.training.trainer import RLTrainer

    cfg = load_config(str(ROOT / RECIPE), [f"model.path={model}", "model.tiny=null", *THREADS, *overrides])
    trainer = RLTrainer(cfg, build_roles(cfg), show_progress=False)
    try:
        return accuracies(trainer.evaluate())
    finally:
        trainer.close()


def oracle(overrides: list[str]) -> dict[str, float]:
    """Accuracy of the scripted bridge-query searcher on the 2-hop eval questions (no model)."""
    from rlvr.config import load_config
    from rlvr.data.specs import load_dataset_specs
    from rlvr.envs import build_env
    from rlvr.envs.s3.scripted import QUERY_POLICIES, play

    cfg = load_config(str(ROOT / RECIPE), overrides)
    samples = [s for s in load_dataset_specs(cfg.data.eval) if s.data_source == "multihop_2hop"]
    scores = []
    for sample in samples:
        assert sample.env is not None
        env = build_env(sample.env)
        play(env, sample, QUERY_POLICIES["bridge"], random.Random(0))  # type: ignore[arg-type]
        scores.append(env.score() + env.rag_accuracy())  # type: ignore[attr-defined]
    return {"multihop_2hop/acc_s3": statistics.fmean(scores)}


def query_kinds(model: Path, size: int = 60, samples: int = 4) -> dict[str, dict[str, int]]:
    """What ``model`` searches for first on ``size`` held-out 2-hop questions, greedy and sampled
    (``samples`` each, temperature 0.6, seed 0): the bridge, another entity of the results, other text
    of the prompt, or something else."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlvr.data import generate
    from rlvr.envs import build_env
    from rlvr.envs.s3.scripted import named_entities

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model)
    lm = AutoModelForCausalLM.from_pretrained(model).eval()
    env_params = {"topk": 3, "instructions": False, "chat": False}
    world = {"people": 1000, "cities": 100, "filler": False}
    questions = generate("multihop_world", size, 3, hops=[2], split="eval", env=env_params, **world)
    counts: dict[str, dict[str, int]] = {"greedy": {}, "sampled": {}}
    for sample in questions:
        assert sample.env is not None
        env = build_env(sample.env)
        text = str(env.reset(sample))
        entities = named_entities(env.rag_docs)  # type: ignore[attr-defined]
        ids = tok(text, return_tensors="pt", add_special_tokens=False)
        for mode, kw in (
            ("greedy", {"do_sample": False}),
            ("sampled", {"do_sample": True, "temperature": 0.6}),
        ):
            n = 1 if mode == "greedy" else samples
            with torch.no_grad():
                out = lm.generate(
                    **ids, max_new_tokens=12, num_return_sequences=n, pad_token_id=tok.pad_token_id, **kw
                )
            for row in out:
                action = tok.decode(row[ids["input_ids"].shape[1] :], skip_special_tokens=True)
                query = action.removeprefix("<query>").split("<")[0].strip()
                kind = (
                    "bridge"
                    if query == sample.metadata["bridge"]
                    else "entity"
                    if query in entities
                    else "prompt_text"
                    if query and query in text
                    else "other"
                )
                counts[mode][kind] = counts[mode].get(kind, 0) + 1
    return counts


def warm_start(out: Path, steps: int, overrides: list[str]) -> None:
    """Train the warm start into ``out/sft/sft`` (unless there) and evaluate it and the oracle."""
    wall = None
    if not (out / "sft" / "sft").exists():
        args = ["sft", RECIPE, f"trainer.output_dir={out}", "trainer.run_name=sft", f"sft.steps={steps}"]
        wall = _rlvr([*args, *THREADS], out / "sft.log")
    result = {
        "sft_wall_s": wall,
        "eval": evaluate(out / "sft" / "sft", overrides),
        "oracle": oracle(overrides),
    }
    (out / "sft.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


def train_arm(out: Path, arm: str, overrides: list[str]) -> None:
    algo, seed = arm.split(":")
    name = f"{algo}-seed{seed}"
    args = [
        "train",
        RECIPE,
        f"model.path={out / 'sft' / 'sft'}",
        "model.tiny=null",
        f"trainer.output_dir={out}",
        f"trainer.run_name={name}",
        f"trainer.seed={seed}",
        *THREADS,
        *ARMS[algo],
        *overrides,
    ]
    wall = _rlvr(args, out / f"{name}.log")
    (out / name / "wall.json").write_text(json.dumps({"wall_s": wall, "args": args}))
    print(f"{name}: {wall / 60:.1f} min", flush=True)


def summarise(out: Path, dest: Path) -> None:
    """experiments/s3/: results.json (every figure), curves.jsonl (GBR per step, eval points)."""
    dest.mkdir(parents=True, exist_ok=True)
    sft = json.loads((out / "sft.json").read_text())
    results: dict[str, object] = {"warm_start": sft, "arms": {}}
    curves = []
    for run in sorted(p for p in out.iterdir() if (p / "wall.json").exists()):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        evals = [(r["step"], accuracies(r)) for r in rows if f"{ENV}/multihop_2hop/acc_s3" in r]
        for r in rows:
            if "episode/s3/env/gbr" in r:
                curves.append({"run": run.name, "step": r["step"], "gbr": r["episode/s3/env/gbr"]})
        results["arms"][run.name] = {  # type: ignore[index]
            "wall_s": json.loads((run / "wall.json").read_text())["wall_s"],
            "final": evals[-1][1] if evals else None,
            "evals": [{"step": s, **a} for s, a in evals],
        }
    (dest / "results.json").write_text(json.dumps(results, indent=1))
    (dest / "curves.jsonl").write_text("".join(json.dumps(c) + "\n" for c in curves))
    plot(curves, dest / "gbr_curve.png")
    print(table(results))
    print(curve_table(curves))


def windows(curves: list[dict], size: int = 10) -> dict[str, list[float]]:
    """Mean training GBR per run over consecutive windows of ``size`` steps."""
    out: dict[str, list[float]] = {}
    for run in sorted({c["run"] for c in curves}):
        values = [c["gbr"] for c in curves if c["run"] == run]
        out[run] = [statistics.fmean(values[i : i + size]) for i in range(0, len(values), size)]
    return out


def curve_table(curves: list[dict], size: int = 10) -> str:
    rows = windows(curves, size)
    n = max((len(v) for v in rows.values()), default=0)
    head = " | ".join(f"{i * size + 1}-{(i + 1) * size}" for i in range(n))
    lines = [f"| run | training GBR, steps {head} |", "|---" * (n + 1) + "|"]
    lines += [f"| {run} | " + " | ".join(f"{v:.2f}" for v in values) + " |" for run, values in rows.items()]
    return "\n".join(lines)


def plot(curves: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for run, values in windows(curves, 5).items():
        ax.plot([5 * i + 5 for i in range(len(values))], values, label=run)
    ax.set_xlabel("RL step")
    ax.set_ylabel("training GBR (mean of 5 steps)")
    ax.set_title("s3 tiny searcher: Gain Beyond RAG over training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(results: dict) -> str:
    sft = results["warm_start"]["eval"]
    sft_wall = results["warm_start"]["sft_wall_s"]
    lines = [
        "| searcher | 2-hop acc | 1-hop acc | wall |",
        "|---|---|---|---|",
        f"| naive RAG (no searcher) | {sft['multihop_2hop/acc_rag']:.2f} | {sft['multihop_1hop/acc_rag']:.2f} | - |",
        f"| SFT warm start | {sft['multihop_2hop/acc_s3']:.2f} | {sft['multihop_1hop/acc_s3']:.2f} "
        + (f"| {sft_wall / 60:.1f} min |" if sft_wall else "| - |"),
    ]
    for name, arm in results["arms"].items():
        if arm["final"]:
            f = arm["final"]
            lines.append(
                f"| RL {name} | {f['multihop_2hop/acc_s3']:.2f} | {f['multihop_1hop/acc_s3']:.2f} "
                f"| {arm['wall_s'] / 60:.1f} min |"
            )
    oracle_acc = results["warm_start"]["oracle"]["multihop_2hop/acc_s3"]
    lines.append(f"| oracle (scripted bridge query) | {oracle_acc:.2f} | - | - |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="run directories and logs (not the repo)")
    parser.add_argument("--sft-steps", type=int, help="train the warm start (sft.steps) and evaluate it")
    parser.add_argument("--arms", nargs="*", default=[], help="ALGO:SEED, ALGO in ppo | grpo")
    parser.add_argument("--jobs", type=int, default=1, help="arms trained at once")
    parser.add_argument("--table", action="store_true", help="summarise into --dest")
    parser.add_argument("--probe", type=Path, help="print what this model searches for first (query kinds)")
    parser.add_argument("--dest", type=Path, default=ROOT / "experiments" / "s3")
    parser.add_argument("overrides", nargs="*", help="recipe overrides for every arm (a.b=c)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sft_steps:
        warm_start(args.out, args.sft_steps, [])
    if args.arms:
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda arm: train_arm(args.out, arm, args.overrides), args.arms))
    if args.table:
        summarise(args.out, args.dest)
    if args.probe:
        print(json.dumps(query_kinds(args.probe)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
