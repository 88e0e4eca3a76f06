"""The learner's update alone at a real model shape on the CPU: rlvr's ``Learner.update`` against one
plain forward and backward over the whole (B, P + R) batch (what TRL's GRPOTrainer runs), same rows.

    python benchmarks/learner_shapes.py --shape smollm-135m --reps 3
    python benchmarks/learner_shapes.py --shape llama-30m --profile     # + the top operators of each

Rows: ``--prompts`` random prompts of ``--prompt-len`` random lengths, ``--n`` completions of each,
``--response-len`` random lengths (a fixed length with both values equal), random ids; a coin-flip
advantage per row (all rows trained). Every variant runs one optimizer step (AdamW, clip 1.0) on the
same model object; the variants alternate, ``--reps`` times each, so that both see the same load. Times
are the process's CPU seconds (one torch thread: what this update costs, whatever else the machine
runs) and wall seconds. ``--count-ops`` adds the aten operators one update dispatches (separate,
untimed updates), as run here and as on an accelerator (the log-softmax in chunks of
``trainer.logprob_chunk_tokens`` positions, not capped to the CPU's cache): on a GPU each operator is a
kernel launch or more, and launching them is what bounds a small model's update there.

Variants:

    rlvr        Learner.update (shared prompt pass, trimmed length buckets, chunked log-softmax)
    rlvr-eager  the same with eager attention (matmul, softmax, matmul) at any length, not only <= 64
    rlvr-1024   the same with the log-softmax in chunks of trainer.logprob_chunk_tokens (1,024) positions,
                not capped at the CPU's cache-sized rlvr.algorithms.logprobs.CPU_CHUNK_VALUES
    rlvr-bf16-attn  the same with half-precision SDPA past ``EAGER_MAX_LEN`` (a half-precision model:
                no eager attention up to ``HALF_EAGER_MAX_LEN``, no float32 copies up to ``FLOAT32_MAX_LEN``)
    rlvr-f32-attn   the same with SDPA on float32 copies past ``EAGER_MAX_LEN`` (a half-precision model:
                no eager attention up to ``HALF_EAGER_MAX_LEN``; the learner before 2026-12-02)
    rlvr-1pass  the same with one model call a micro-batch (``trainer.shared_prefix=false``, the default
                on an accelerator)
    plain       model(input_ids, attention_mask, position_ids, logits_to_keep=R + 1), log_softmax of
                the response logits, -(adv * exp(logp - logp.detach())) token mean, entropy of the
                logits (TRL computes it for its metrics), backward, clip, AdamW (foreach)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from unittest.mock import patch

import torch

sys.path.insert(0, str(Path(__file__).parent))
import gpu_grpo  # noqa: E402
import vs_trl_shapes as shapes  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="smollm-135m", choices=list(shapes.SHAPES))
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--prompt-len", type=int, nargs=2, default=[8, 64])
    p.add_argument("--response-len", type=int, nargs=2, default=[96, 96])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--variants", nargs="+", default=["rlvr", "rlvr-1pass", "plain"])
    p.add_argument("--profile", action="store_true", help="also print each variant's top operators")
    p.add_argument(
        "--by-shape",
        action="store_true",
        help="with --profile: the operators by input shape (where casts are)",
    )
    p.add_argument("--dtype", choices=list(gpu_grpo.DTYPES), default="float32", help="parameter dtype (pure)")
    p.add_argument("--count-ops", action="store_true", help="also count each variant's aten operators")
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def make_batch(args: argparse.Namespace, vocab: int):
    from rlvr.rollout.types import Completion
    from rlvr.training.batch import collate

    rng = random.Random(0)
    completions = []
    for i in range(args.prompts):
        prompt = [rng.randrange(2, vocab) for _ in range(rng.randint(*args.prompt_len))]
        for k in range(args.n):
            ids = [rng.randrange(2, vocab) for _ in range(rng.randint(*args.response_len))]
            completions.append(Completion(i, ids, [0.0] * len(ids), "", "length", prompt, k))
    batch = collate(completions, pad_id=0)
    adv = torch.tensor([rng.choice([-1.0, 1.0]) for _ in completions])[:, None] * batch.response_mask
    return batch, adv


def plain_update(model, optimizer, batch, adv) -> None:
    """One forward and backward over the whole batch, as TRL's GRPOTrainer runs it (token-mean loss)."""
    R = batch.response_width
    logits = model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids,
        logits_to_keep=R + 1,
    ).logits[:, :-1]  # (B, R, V)  # fmt: skip
    labels = batch.input_ids[:, -R:]
    logp = logits.float().log_softmax(-1).gather(-1, labels[..., None]).squeeze(-1)  # (B, R)
    with torch.no_grad():
        probs = logits.float().softmax(-1)
        _entropy = -(probs * probs.clamp_min(1e-30).log()).sum(-1)
    mask = batch.response_mask
    loss = -(adv * torch.exp(logp - logp.detach()) * mask).sum() / mask.sum()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def variants(args: argparse.Namespace, model, batch, adv) -> dict[str, Callable[[], None]]:
    from rlvr.algorithms import AlgorithmConfig, logprobs
    from rlvr.config import OptimConfig, TrainerConfig
    from rlvr.models import attention
    from rlvr.training.learner import Learner

    algo = AlgorithmConfig(eps_low=0.2, eps_high=0.28, loss_agg="token_mean", kl_coef=0.0)
    trainer = TrainerConfig(
        steps=100, prompts_per_step=args.prompts, micro_batch_size=batch.size, skip_zero_advantage=False
    )
    shared, single = (
        trainer.model_copy(update={"shared_prefix": True}),
        trainer.model_copy(update={"shared_prefix": False}),
    )
    learner = Learner(model, algo, OptimConfig(lr=1e-6), shared, 100, 1.0, batch.response_width)
    one_pass = Learner(model, algo, OptimConfig(lr=1e-6), single, 100, 1.0, batch.response_width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, foreach=True)

    def update_with(module: ModuleType, **settings: object) -> Callable[[], None]:
        """Learner.update with ``module``'s ``settings`` (name=value) set for the call."""

        def run() -> None:
            with contextlib.ExitStack() as stack:
                for name, value in settings.items():
                    stack.enter_context(patch.object(module, name, value))
                learner.update(batch, adv, None, None)

        return run

    short = attention.EAGER_MAX_LEN

    table = {
        "rlvr": lambda: learner.update(batch, adv, None, None),
        "rlvr-eager": update_with(attention, EAGER_MAX_LEN=1 << 30, HALF_EAGER_MAX_LEN=1 << 30),
        "rlvr-1024": update_with(logprobs, CPU_CHUNK_VALUES=1 << 62),  # chunks not capped to the cache
        "rlvr-bf16-attn": update_with(attention, HALF_EAGER_MAX_LEN=short, FLOAT32_MAX_LEN=short),
        "rlvr-f32-attn": update_with(attention, HALF_EAGER_MAX_LEN=short),
        "rlvr-1pass": lambda: one_pass.update(batch, adv, None, None),
        "plain": lambda: plain_update(model, optimizer, batch, adv),
    }
    return {name: table[name] for name in args.variants}


def count_ops(fn: Callable[[], None], gpu_chunks: bool = False) -> int:
    """The aten operators one call of ``fn`` dispatches (views and in-place ones included); with
    ``gpu_chunks``, with the log-softmax chunked as on an accelerator."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from rlvr.algorithms import logprobs

    class Counter(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Counter.calls += 1
            return func(*args, **(kwargs or {}))

    with (
        Counter(),
        patch.object(logprobs, "CPU_CHUNK_VALUES", 1 << 62 if gpu_chunks else logprobs.CPU_CHUNK_VALUES),
    ):
        fn()
    return Counter.calls


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(shapes.THREADS)
    gpu_grpo.SHAPES.update(shapes.SHAPES)
    from rlvr.models.load import quiet_transformers

    quiet_transformers()
    vocab = shapes.SHAPES[args.shape]["vocab_size"]
    model = gpu_grpo.build_model(args.shape, torch.device("cpu"), gpu_grpo.DTYPES[args.dtype])
    batch, adv = make_batch(args, vocab)
    runs = variants(args, model, batch, adv)
    tokens = int(batch.attention_mask.sum())
    for fn in runs.values():  # warm-up: allocators, AdamW state
        fn()
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, fn in runs.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    print(
        f"{args.shape}: {batch.size} rows ({args.prompts} prompts x {args.n}), prompt width "
        f"{batch.prompt_width}, response width {batch.response_width}, {tokens} tokens; {args.reps} reps, "
        f"1 thread, {args.dtype}"
    )
    ops = (
        {name: (count_ops(fn), count_ops(fn, gpu_chunks=True)) for name, fn in runs.items()}
        if args.count_ops
        else {}
    )
    print(
        "| variant | CPU s (median) | wall s (median) | learner tokens / CPU s | aten ops here / as on a GPU |"
    )
    print("|---|---|---|---|---|")
    for name in runs:
        c = statistics.median(cpu[name])
        counted = "{} / {}".format(*ops[name]) if name in ops else "-"
        print(f"| {name} | {c:.2f} | {statistics.median(wall[name]):.2f} | {tokens / c:.0f} | {counted} |")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for name, fn in runs.items():
            with profile(activities=[ProfilerActivity.CPU], record_shapes=args.by_shape) as prof:
                fn()
            print(f"\n== {name}")
            averages = prof.key_averages(group_by_input_shape=args.by_shape)
            print(averages.table(sort_by="self_cpu_time_total", row_limit=25 if args.by_shape else 14))
    if args.output:
        out = {"args": vars(args), "tokens": tokens, "cpu_s": cpu, "wall_s": wall, "aten_ops": ops}
        Path(args.output).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
