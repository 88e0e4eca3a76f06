"""Generation throughput of the hf and the vllm rollout engines: the same model, batch and settings.

    /work/vllm-venv/bin/python benchmarks/engines.py            # or any env where `import vllm` works
    python benchmarks/engines.py --prompts 64 --n 8 --max-new-tokens 32 --repeats 5

For each model (the quickstart's tiny Llama, and a bigger tiny one), the script saves the model once
to a temporary directory; the hf engine runs the transformers model loaded from it, the vllm engine
loads the same directory. Both get the same digit_sort prompts (rendered with the chat template, as the
trainer does), ``n`` completions each, ``max_new_tokens``, temperature 1, no top-k / top-p, float32,
and one batch of all ``prompts * n`` sequences (hf ``max_batch_size`` and vLLM ``max_num_seqs``).

Timing: after one warm-up call each, the engines alternate (hf, vllm, then vllm, hf, ...) for
``--repeats`` rounds, so that load from other processes on a shared machine falls on both alike. A
call's figure is generated tokens (eos and all, as the trainer counts them) over its wall time; the
report is the median over rounds, and the ratio is vllm's median over hf's. Process CPU time is
recorded too. This is repeated at each ``--threads`` count (torch's intra-op threads, which both
engines use): on a 2-core machine shared with other jobs, vLLM's decode loop was much steadier at one
thread (vLLM itself drops to one thread for serving when it owns the process). The vllm engine runs in
this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, as
``VLLMEngine`` sets it), the way the trainer runs it; its start-up (load + compile + warm-up) is
reported separately and not counted in tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rlvr.data.tasks import digit_sort
from rlvr.models.tiny import TinyModelConfig, save_tiny
from rlvr.rollout.hf_engine import HFEngine
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams

MODELS = {
    # the quickstart's model: hidden 128, 3 layers, 4 heads (head_dim 32)
    "tiny": TinyModelConfig(),
    # a bigger tiny model: hidden 384, 4 layers, 6 heads (head_dim 64)
    "small": TinyModelConfig(hidden_size=384, intermediate_size=1152, num_layers=4, num_heads=6),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {list(MODELS)}")
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--n", type=int, default=8, help="completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per engine (after one warm-up)")
    p.add_argument(
        "--threads", default="1,2", help="torch thread counts to compare at (both engines use the process's)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eager", action="store_true", help="vLLM with enforce_eager (no torch.compile)")
    p.add_argument("--output", default="benchmarks/results/engines.json", help="JSON results file")
    return p.parse_args(argv)


def kv_cache_bytes(cfg: TinyModelConfig, sequences: int, tokens_per_sequence: int) -> int:
    """A KV cache that holds every sequence at once (fp32 keys and values), with headroom."""
    per_token = 2 * cfg.num_layers * cfg.hidden_size * 4
    return int(per_token * sequences * tokens_per_sequence * 1.5) + (16 << 20)


def timed(engine, prompts: list[list[int]], params: SamplingParams) -> dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = engine.generate(prompts, params)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tokens = sum(len(c.token_ids) for c in out)
    return {"tokens": tokens, "wall_s": wall, "cpu_s": cpu, "tokens_per_s": tokens / wall}


def compare(engines: dict, prompts: list[list[int]], params: SamplingParams, repeats: int, name: str) -> dict:
    """One warm-up call each, then ``repeats`` interleaved rounds (hf, vllm / vllm, hf, ...)."""
    warmup = {k: timed(e, prompts, params) for k, e in engines.items()}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in engines}
    for r in range(repeats):
        for k in ["hf", "vllm"] if r % 2 == 0 else ["vllm", "hf"]:
            runs[k].append(timed(engines[k], prompts, params))
            print(f"  {name} round {r} {k:>4}: {runs[k][-1]['tokens_per_s']:8.0f} tokens/s", flush=True)
    median = {k: statistics.median(x["tokens_per_s"] for x in v) for k, v in runs.items()}
    return {
        "tokens_per_s_median": median,
        "cpu_s_median": {k: statistics.median(x["cpu_s"] for x in v) for k, v in runs.items()},
        "vllm_over_hf": median["vllm"] / median["hf"],
        "warmup": warmup,
        "runs": runs,
    }


def bench_model(name: str, cfg: TinyModelConfig, args: argparse.Namespace, workdir: Path) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlvr.rollout.vllm_engine import VLLMEngine

    model_dir = save_tiny(cfg, workdir / name)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    model.requires_grad_(False)
    params_count = sum(p.numel() for p in model.parameters())
    prompts = encode_prompts(tokenizer, digit_sort(args.prompts, seed=args.seed))
    params = SamplingParams(n=args.n, max_new_tokens=args.max_new_tokens, temperature=1.0)
    batch = args.prompts * args.n
    longest = max(len(p) for p in prompts) + args.max_new_tokens

    engines = {"hf": HFEngine(model, tokenizer, max_batch_size=batch, seed=args.seed)}
    t0 = time.perf_counter()
    engines["vllm"] = VLLMEngine(
        str(model_dir),
        tokenizer,
        seed=args.seed,
        max_batch_size=batch,
        dtype="float32",
        kv_cache_memory_bytes=kv_cache_bytes(cfg, batch, longest),
        enforce_eager=args.eager,
    )
    startup_s = time.perf_counter() - t0
    result: dict = {
        "model": cfg.model_dump(exclude={"alphabet"}),
        "parameters": params_count,
        "vllm_startup_s": startup_s,
        "by_threads": {},
    }
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            result["by_threads"][str(threads)] = r = compare(engines, prompts, params, args.repeats, name)
            print(
                f"{name} ({params_count / 1e6:.2f}M params), {threads} thread(s): "
                f"hf {r['tokens_per_s_median']['hf']:.0f} tokens/s, "
                f"vllm {r['tokens_per_s_median']['vllm']:.0f} tokens/s, vllm/hf {r['vllm_over_hf']:.2f}x",
                flush=True,
            )
    finally:
        engines["vllm"].close()
    print(f"{name}: vLLM start-up (load, compile, warm-up) {startup_s:.0f} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    import transformers
    import vllm

    args = parse_args(argv)
    args.threads = [int(t) for t in str(args.threads).split(",")]
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; known: {sorted(MODELS)}")
    results = {
        "settings": {
            **vars(args),
            "temperature": 1.0,
            "dtype": "float32",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "vllm": vllm.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        },
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results["models"][name] = bench_model(name, MODELS[name], args, Path(tmp))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return results


if __name__ == "__main__":  # vLLM may start processes: keep the entry point guarded
    main()
