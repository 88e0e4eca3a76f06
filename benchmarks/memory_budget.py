"""Peak memory of one learner update, and a run that runs out of memory without a token budget.

    python benchmarks/memory_budget.py                              # CPU: peak RSS, then an RLIMIT_AS cap
    python benchmarks/memory_budget.py --device cuda --shape qwen2.5-0.5b --rows 128 --cap-gib 30

One GRPO update (``Learner.update``: forward, backward, AdamW) of a randomly initialised Qwen2-shaped
model on one batch of ``--rows`` completions of varying length (prompts 16-96 tokens, completions
16-``--max-response`` tokens, left-padded prompts), each configuration in a fresh subprocess:

    before        the learner's log-probs as they were (a float32 (B, R, V) copy of the logits, kept for
                  the backward pass; the entropy metric over the whole (B, R, V) at once)
    chunked       rlvr.algorithms.logprobs: the log-softmax a chunk of positions at a time
    budget        chunked + trainer.max_tokens_per_micro_batch=--budget-tokens
    budget+ckpt   budget + model.gradient_checkpointing (activation checkpointing)

all with trainer.micro_batch_size = --rows (one micro-batch unless the budget splits it). Peak memory is
the subprocess's ru_maxrss on CPU (resident set, so the baseline of Python, torch and the model is in
it; the "update" column subtracts the RSS measured just before the update) and
torch.cuda.max_memory_allocated on a GPU. Then, under a cap (RLIMIT_AS of the address space before the
update plus --cap-gib on CPU; on a GPU torch.cuda.set_per_process_memory_fraction of the memory held
before the update (weights, AdamW's moments) plus --cap-gib), each configuration
either finishes or fails with rlvr's OutOfMemory error, which names the setting to lower.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import gpu_grpo  # noqa: E402  (the model shapes and the word-level tokenizer)

CONFIGS = ("before", "chunked", "budget", "budget+ckpt")
SHAPES = {
    **gpu_grpo.SHAPES,
    # small enough for a shared CPU, with a vocabulary large enough that the logits dominate
    "cpu-32k": dict(
        hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=32768,
    ),
}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--shape", default="cpu-32k", choices=list(SHAPES))
    p.add_argument("--rows", type=int, default=32)
    p.add_argument("--max-response", type=int, default=256)
    p.add_argument("--budget-tokens", type=int, default=2048)
    p.add_argument("--cap-gib", type=float, default=1.5, help="memory allowed for the update under the cap")
    p.add_argument("--output", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--capped", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def plain_token_stats(self, logits, labels, with_entropy):
    """The learner's log-prob computation before rlvr.algorithms.logprobs (kept here to measure it)."""
    from rlvr.algorithms.entropy import entropy_from_logits, logprobs_from_logits

    if self.temperature != 1.0:
        logits = logits / self.temperature
    logprobs = logprobs_from_logits(logits, labels)
    entropy = None
    if with_entropy:
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.algo.entropy_coef > 0):
            entropy = entropy_from_logits(logits)
    return logprobs, entropy


def make_batch(args: argparse.Namespace, vocab: int):
    from rlvr.rollout.types import Completion
    from rlvr.training.batch import collate

    rng = random.Random(0)
    completions = []
    for i in range(args.rows // 8):
        prompt = [rng.randrange(2, vocab) for _ in range(rng.randint(16, 96))]
        for k in range(8):
            tokens = [rng.randrange(2, vocab) for _ in range(rng.randint(16, args.max_response))]
            completions.append(Completion(i, tokens, [-1.0] * len(tokens), "", "length", prompt, k))
    return collate(completions, pad_id=0)


def vm_size_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def child(args: argparse.Namespace) -> dict:
    """One configuration's update, in this (sub)process."""
    from rlvr.algorithms import AlgorithmConfig
    from rlvr.config import OptimConfig, TrainerConfig
    from rlvr.models.memory import OutOfMemory
    from rlvr.training.learner import Learner

    name = args.child
    device = torch.device(args.device)
    torch.set_num_threads(1)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    gpu_grpo.SHAPES.update(SHAPES)
    model = gpu_grpo.build_model(args.shape, device, dtype)
    if name == "budget+ckpt":
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    trainer = TrainerConfig(
        micro_batch_size=args.rows,
        max_tokens_per_micro_batch=args.budget_tokens if name.startswith("budget") else None,
        skip_zero_advantage=False,
    )
    learner = Learner(model, AlgorithmConfig(), OptimConfig(lr=1e-6), trainer, 10, 1.0, args.max_response)
    if name == "before":
        learner._token_stats = plain_token_stats.__get__(learner)  # type: ignore[method-assign]
    batch = make_batch(args, SHAPES[args.shape]["vocab_size"])
    adv = torch.randn(batch.size, 1, generator=torch.Generator().manual_seed(0)).expand(
        -1, batch.response_width
    )
    learner.update(batch, adv.clone(), None, None)  # warm-up: AdamW's moments exist from here on
    base_rss = rss_bytes()
    if args.capped:
        if device.type == "cuda":  # cached blocks would serve the update without asking for more
            torch.cuda.empty_cache()
            held = torch.cuda.memory_allocated(device) / 2**30  # weights and AdamW's moments
            total = torch.cuda.get_device_properties(device).total_memory / 2**30
            torch.cuda.set_per_process_memory_fraction(
                min(1.0, (held + args.cap_gib) / total), torch.cuda.current_device()
            )
        else:
            cap = vm_size_bytes() + int(args.cap_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    try:
        metrics = learner.update(batch, adv.clone(), None, None)
        error = None
    except OutOfMemory as exc:
        metrics, error = {}, f"OutOfMemory: {str(exc)[:400]}"
    if device.type == "cuda":
        torch.cuda.synchronize()
    out = {
        "config": name,
        "seconds": round(time.perf_counter() - t0, 3),
        "micro_batches": len(learner._micro_batches(batch)),
        "rows": batch.size,
        "padded_tokens": batch.size * batch.input_ids.size(1),
        "tokens": int(batch.attention_mask.sum()),
        "grad_norm": metrics.get("train/grad_norm"),
        "error": error,
    }
    if device.type == "cuda":
        out["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out["peak_rss_gib"] = round(peak / 2**30, 3)
        out["update_rss_gib"] = round((peak - base_rss) / 2**30, 3)
    return out


def run_child(args: argparse.Namespace, name: str, capped: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--device", args.device, "--shape", args.shape]
    cmd += ["--rows", str(args.rows), "--max-response", str(args.max_response)]
    cmd += ["--budget-tokens", str(args.budget_tokens), "--cap-gib", str(args.cap_gib)]
    cmd += ["--capped"] if capped else []
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"config": name, "error": f"exit {proc.returncode}: {' | '.join(tail)[:400]}"}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return
    results: dict[str, list[dict]] = {"uncapped": [], "capped": []}
    for capped in (False, True):
        for name in CONFIGS:
            r = run_child(args, name, capped)
            results["capped" if capped else "uncapped"].append(r)
            print(("capped   " if capped else "uncapped ") + json.dumps(r), flush=True)
    peak_key = "peak_gib" if args.device.startswith("cuda") else "update_rss_gib"
    print(
        f"\n{args.shape}, {args.rows} rows, responses 16-{args.max_response}, budget {args.budget_tokens} tokens"
    )
    print(f"| config | micro-batches | s | {peak_key} | under a {args.cap_gib} GiB cap |")
    print("|---|---|---|---|---|")
    for free, cap in zip(results["uncapped"], results["capped"], strict=True):
        verdict = "ok" if not cap.get("error") else cap["error"][:160]
        print(
            f"| {free['config']} | {free.get('micro_batches')} | {free.get('seconds')} | {free.get(peak_key)} | {verdict} |"
        )
    if args.output:
        Path(args.output).write_text(json.dumps({"args": vars(args), **results}, indent=1))


if __name__ == "__main__":
    main()
