"""One GPU: the FSDP2 learner (one rank, learner.fsdp) and a vLLM engine colocated on it, on a 0.5B shape.

    python benchmarks/fsdp_colocated_gpu.py                          # Qwen2.5-0.5B shape, vLLM, colocated
    python benchmarks/fsdp_colocated_gpu.py --engine hf              # without vLLM (hf engine in its actor)
    python benchmarks/fsdp_colocated_gpu.py --tiny --engine hf       # CPU check of the script (~1-2 min)

It builds a randomly initialised model of Qwen2.5-0.5B's dimensions (benchmarks/gpu_grpo.py's shape, as a
Llama architecture: no q/k/v biases; its word-level tokenizer of 151,936 ids; no download) into ``--workdir``, writes random-id prompts scored by the `random`
verifier (a coin flip per completion: this measures throughput and memory, not learning), and runs
``rlvr train`` with

    backend: ray, learner: {world_size: 1, fsdp: true, mixed_precision: bf16}, placement: colocated,
    ray: {rollout_workers: 1, learner_gpus: 1, rollout_gpus: 1}, rollout.engine: vllm

so the learner rank (fully_shard over a group of 1, fp32 master weights, bf16 compute) and the vLLM
engine share the GPU: vLLM sleeps while the learner updates and wakes for the weight sync and the next
generation. Reported per step (steps 2..N; step 1 warms up): generated tokens/s, step / update / sync
seconds, and the learner's peak GPU memory (``perf/learner_peak_gib``; vLLM's pool is not in it: it
holds ``--gpu-memory-utilization`` of the card while awake). Results: ``--output`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_grpo import SHAPES, build_model, build_tokenizer  # noqa: E402

from rlvr.cli import main as rlvr_main  # noqa: E402
from rlvr.data.loaders import save_jsonl  # noqa: E402
from rlvr.data.sample import RewardSpec, Sample  # noqa: E402
from rlvr.tracking.logger import read_metrics  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--engine", choices=["vllm", "hf"], default="vllm")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--prompts", type=int, default=32)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.4)
    p.add_argument("--tiny", action="store_true", help="tiny shape on CPU, 2 steps (checks the script)")
    p.add_argument("--workdir", default="/tmp/rlvr-fsdp-gpu")
    p.add_argument("--output", default="benchmarks/results/fsdp_colocated_gpu.json")
    args = p.parse_args(argv)
    if args.tiny:
        args.steps, args.prompts, args.n, args.max_new_tokens = 3, 4, 4, 8
    return args


def prepare(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """The model directory and the prompts file."""
    import torch

    shape = "tiny" if args.tiny else "qwen2.5-0.5b"
    vocab = SHAPES[shape]["vocab_size"]
    model_dir = work / f"model-{shape}"
    if not (model_dir / "config.json").is_file():
        # Llama's architecture at the shape's dimensions: with model_type qwen2, AutoTokenizer would load
        # Qwen2's tokenizer class over the word-level tokenizer (and encode nothing)
        SHAPES[f"{shape}-llama"] = {**SHAPES[shape], "arch": "llama"}
        build_model(f"{shape}-llama", torch.device("cpu"), torch.float32).save_pretrained(model_dir)
        build_tokenizer(vocab).save_pretrained(model_dir)
    rng = random.Random(0)
    samples = [
        Sample(
            id=f"p{i}",
            prompt=" ".join(f"t{rng.randrange(2, vocab)}" for _ in range(rng.randint(32, 128))),
            reward=RewardSpec(verifier="random", params={"gamma": 0.5}),
        )
        for i in range(args.prompts * (args.steps + 1))
    ]
    return model_dir, save_jsonl(samples, work / "prompts.jsonl")


def recipe(args: argparse.Namespace, model_dir: Path, prompts: Path, work: Path) -> Path:
    gpu = 0 if args.tiny else 1
    tree = {
        "name": "fsdp-colocated",
        "backend": "ray",
        "placement": "colocated",
        "model": {"path": str(model_dir), "dtype": "float32", "gradient_checkpointing": not args.tiny},
        "learner": {"world_size": 1, "fsdp": True, "mixed_precision": "none" if args.tiny else "bf16"},
        "ray": {
            "rollout_workers": 1,
            "reward_workers": 0,
            "learner_cpus": 1,
            "rollout_cpus": 1,
            "learner_gpus": gpu,
            "rollout_gpus": gpu,
            "num_cpus": 2 if args.tiny else None,
        },
        "data": {"train": [{"type": "jsonl", "path": str(prompts)}], "eval": []},
        "rollout": {
            "engine": args.engine,
            "n": args.n,
            "max_new_tokens": args.max_new_tokens,
            "temperature": 1.0,
            "top_p": 1.0,
            "max_batch_size": args.prompts * args.n,
            "gpu_memory_utilization": args.gpu_memory_utilization,
        },
        "reward": {"workers": 0},
        "algorithm": {"advantage": "grpo", "loss_agg": "token_mean", "kl_coef": 0.0},
        "optim": {"lr": 1e-6},
        "trainer": {
            "steps": args.steps,
            "prompts_per_step": args.prompts,
            "micro_batch_size": 16,
            "save_every": 0,
            "eval_every": 0,
            "output_dir": str(work / "runs"),
        },
    }
    path = work / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def summarise(run_dir: Path, args: argparse.Namespace, wall_s: float) -> dict:
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if "perf/step_s" in r][1:]  # step 1: warm-up

    def med(key: str) -> float | None:
        vals = [r[key] for r in rows if key in r]
        return statistics.median(vals) if vals else None

    return {
        "engine": args.engine,
        "shape": "tiny" if args.tiny else "qwen2.5-0.5b",
        "steps_measured": len(rows),
        "prompts": args.prompts,
        "n": args.n,
        "max_new_tokens": args.max_new_tokens,
        "gen_tokens_per_s": med("perf/gen_tokens_per_s"),
        "step_s": med("perf/step_s"),
        "update_s": med("perf/update_s"),
        "weight_sync_s": med("perf/weight_sync_s"),
        "learner_peak_gib": max((r.get("perf/learner_peak_gib", 0.0) for r in rows), default=None),
        "wall_s": wall_s,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model_dir, prompts = prepare(args, work)
    path = recipe(args, model_dir, prompts, work)
    t0 = time.perf_counter()
    code = rlvr_main(["--quiet", "train", str(path), "trainer.run_name=bench"])
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"rlvr train exited with {code}")
    result = summarise(work / "runs" / "bench", args, wall)
    print(json.dumps(result, indent=1))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
