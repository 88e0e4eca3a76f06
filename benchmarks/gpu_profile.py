"""Where a GRPO step's time goes at the Qwen2.5-0.5B shape on one GPU: decode-step variants and the update.

    python benchmarks/gpu_profile.py --out-dir /tmp/profile          # on a GPU; about a minute
    python benchmarks/gpu_profile.py --device cpu --tiny             # checks the script

Generation: ms per decode step of rlvr's hf engine on 16 prompts x 8 completions (prompts of 32-128
tokens, left-padded), for variants that isolate one cost each:

    fast            rlvr's fast decoder as it is (SDPA with an additive mask; at decode the query heads
                    of each KV head folded into its rows, as transformers does for one query position)
    fast-enable-gqa the same with SDPA's enable_gqa instead of the fold (the decoder before 2026-12-02)
    fast-repeat-kv  the same, keys and values repeated to the query heads before SDPA (as transformers
                    does for longer queries with a mask), so SDPA gets no GQA flag
    fast-no-pad     all prompts of one length: no mask at all
    fast-fresh-lengths            as fast, at sequence lengths not run before (no warm-up on them)
    fast-fresh-lengths-cudnn      the same with PyTorch's cuDNN attention backend on (PyTorch's default;
                                  rlvr turns it off, model.cudnn_attention, and so does this script
                                  everywhere else)
    fast-cuda-graphs              as fast, each decode step replayed as a CUDA graph (rollout.cuda_graphs;
                                  a GPU only); -fresh-lengths: at lengths not run before
    transformers    the model's own forward (rollout.fast_decoder=false)
    sample-only     rlvr's sample_next on (128, V) logits alone

Update: the learner's log-prob computation on (32, 255, V) bf16 logits, forward and backward, before
(float32 copy kept for the backward) and chunked (rlvr.algorithms.logprobs), with peak memory; then a
torch.profiler table of one whole ``Learner.update`` and one ``generate``, written to --out-dir.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import gpu_grpo  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--shape", default="qwen2.5-0.5b")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--new-tokens", type=int, default=48)
    p.add_argument("--out-dir", default=None)
    args = p.parse_args(argv)
    if args.tiny:
        args.shape, args.new_tokens = "tiny", 6
    return args


@contextlib.contextmanager
def unfolded_attention(kind: str):
    """FastDecoder's attention without the decode-step fold: ``enable-gqa`` (SDPA's GQA flag) or
    ``repeat-kv`` (keys and values repeated to the query heads, no flag)."""
    import torch.nn.functional as F

    from rlvr.models.fast_decoder import FastDecoder

    original = FastDecoder._attention

    def attention(self, q, k, v, mask):
        if kind == "enable-gqa":
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, scale=self.scaling, enable_gqa=self.groups > 1
            )
        if self.groups > 1:
            k, v = k.repeat_interleave(self.groups, 1), v.repeat_interleave(self.groups, 1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling)

    FastDecoder._attention = attention
    try:
        yield
    finally:
        FastDecoder._attention = original


def decode_ms(engine, prompts, new_tokens: int, device: torch.device, fresh: bool = False) -> float:
    """ms a decode step: (time of new_tokens - time of 1 new token) / (new_tokens - 1). After a warm-up
    over the same sequence lengths, or (``fresh``) with prompts cut to lengths not run before, so that
    anything built per shape (cuDNN attention plans) is built inside the timed calls."""
    from rlvr.rollout.types import SamplingParams

    def timed(t: int, cut: int) -> float:
        gpu_grpo.sync(device)
        t0 = time.perf_counter()
        engine.generate([p[cut:] for p in prompts], SamplingParams(n=8, max_new_tokens=t, temperature=1.0))
        gpu_grpo.sync(device)
        return time.perf_counter() - t0

    if not fresh:
        timed(new_tokens, 0)  # warm-up
        one, full = timed(1, 0), timed(new_tokens, 0)
    else:
        decode_ms.cut = getattr(decode_ms, "cut", 0) + 2  # type: ignore[attr-defined]
        one, full = timed(1, decode_ms.cut), timed(new_tokens, decode_ms.cut + 1)  # type: ignore[attr-defined]
    return 1000 * (full - one) / (new_tokens - 1)


def generation(args: argparse.Namespace, model, tok, device: torch.device) -> dict[str, float]:
    from rlvr.rollout.hf_engine import HFEngine
    from rlvr.rollout.sampling import sample_next

    vocab = gpu_grpo.SHAPES[args.shape]["vocab_size"]
    ns = argparse.Namespace(steps=1, prompts=16, prompt_len=[32, 128] if not args.tiny else [3, 6])
    prompts = gpu_grpo.make_prompts(ns, vocab, seed=1)
    same = [p[:32] if not args.tiny else p[:3] for p in prompts]
    out: dict[str, float] = {}
    fast = HFEngine(model, tok, max_batch_size=128)
    out["fast"] = decode_ms(fast, prompts, args.new_tokens, device)
    for kind in ("enable-gqa", "repeat-kv"):
        with unfolded_attention(kind):
            out[f"fast-{kind}"] = decode_ms(fast, prompts, args.new_tokens, device)
    out["fast-no-pad"] = decode_ms(fast, same, args.new_tokens, device)
    out["fast-fresh-lengths"] = decode_ms(fast, prompts, args.new_tokens, device, fresh=True)
    if device.type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(True)
        out["fast-fresh-lengths-cudnn"] = decode_ms(fast, prompts, args.new_tokens, device, fresh=True)
        torch.backends.cuda.enable_cudnn_sdp(False)
        graphed = HFEngine(model, tok, max_batch_size=128, cuda_graphs=True)
        out["fast-cuda-graphs"] = decode_ms(graphed, prompts, args.new_tokens, device)
        out["fast-cuda-graphs-fresh-lengths"] = decode_ms(
            graphed, prompts, args.new_tokens, device, fresh=True
        )
    slow = HFEngine(model, tok, max_batch_size=128, fast_decoder=False)
    out["transformers"] = decode_ms(slow, prompts, args.new_tokens, device)
    logits = torch.randn(128, vocab, device=device, dtype=model.dtype)
    gen = torch.Generator().manual_seed(0)
    sample_next(logits, 1.0, generator=gen)
    gpu_grpo.sync(device)
    t0 = time.perf_counter()
    for _ in range(20):
        sample_next(logits, 1.0, generator=gen)
    gpu_grpo.sync(device)
    out["sample-only"] = 1000 * (time.perf_counter() - t0) / 20
    return {k: round(v, 2) for k, v in out.items()}


def logprob_paths(args: argparse.Namespace, device: torch.device) -> dict[str, dict[str, float]]:
    """Forward + backward of the learner's log-probs on (32, 255, V) logits: before vs chunked."""
    from rlvr.algorithms.entropy import entropy_from_logits, logprobs_from_logits
    from rlvr.algorithms.logprobs import token_logprobs

    vocab = gpu_grpo.SHAPES[args.shape]["vocab_size"]
    B, R = (32, 255) if not args.tiny else (4, 7)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    labels = torch.randint(0, vocab, (B, R), device=device)

    def before(z):
        lp = logprobs_from_logits(z, labels)
        with torch.no_grad():
            h = entropy_from_logits(z)
        return lp, h

    def chunked(z):
        return token_logprobs(z, labels, with_entropy=True)

    results = {}
    for name, fn in (("before", before), ("chunked", chunked)):
        logits = torch.randn(B, R, vocab, device=device, dtype=dtype, requires_grad=True)
        for _ in range(2):  # warm-up, then timed
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            gpu_grpo.sync(device)
            t0 = time.perf_counter()
            lp, _h = fn(logits)
            lp.sum().backward()
            gpu_grpo.sync(device)
            seconds = time.perf_counter() - t0
            logits.grad = None
        peak = (torch.cuda.max_memory_allocated() - base) / 2**30 if device.type == "cuda" else float("nan")
        results[name] = {"ms": round(1000 * seconds, 1), "peak_above_logits_gib": round(peak, 2)}
        del logits, lp
    return results


def profiles(args: argparse.Namespace, model, tok, device: torch.device) -> dict[str, str]:
    from torch.profiler import ProfilerActivity, profile

    from rlvr.algorithms import ADVANTAGES, AlgorithmConfig
    from rlvr.config import OptimConfig, TrainerConfig
    from rlvr.rollout.hf_engine import HFEngine
    from rlvr.rollout.types import SamplingParams
    from rlvr.training.batch import collate, last_token_rewards
    from rlvr.training.learner import Learner

    vocab = gpu_grpo.SHAPES[args.shape]["vocab_size"]
    ns = argparse.Namespace(steps=1, prompts=16, prompt_len=[32, 128] if not args.tiny else [3, 6])
    prompts = gpu_grpo.make_prompts(ns, vocab, seed=1)
    engine = HFEngine(model, tok, max_batch_size=128)
    params = SamplingParams(n=8, max_new_tokens=args.new_tokens * 4, temperature=1.0)
    algo = AlgorithmConfig(eps_low=0.2, eps_high=0.28)
    learner = Learner(
        model,
        algo,
        OptimConfig(lr=1e-6),
        TrainerConfig(micro_batch_size=32, skip_zero_advantage=False),
        10,
        1.0,
        256,
    )
    completions = engine.generate(prompts, params)
    batch = collate(completions, tok.pad_token_id)
    scores = torch.randint(0, 2, (batch.size,)).float()
    group = torch.tensor([c.prompt_index for c in completions])
    adv, _ = ADVANTAGES.get("grpo")(
        last_token_rewards(scores, batch.response_mask), batch.response_mask, group, algo
    )
    learner.update(batch, adv, None, None)  # warm-up
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    tables = {}
    for name, fn in (
        ("update", lambda: learner.update(batch, adv, None, None)),
        ("generate", lambda: engine.generate(prompts[:16], params)),
    ):
        with profile(activities=acts) as prof:
            fn()
            gpu_grpo.sync(device)
        tables[name] = prof.key_averages().table(sort_by=sort, row_limit=25, max_name_column_width=60)
    return tables


def main(argv: list[str] | None = None) -> None:
    from rlvr.models.attention import set_cudnn_attention

    args = parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tok = gpu_grpo.build_tokenizer(gpu_grpo.SHAPES[args.shape]["vocab_size"])
    model = gpu_grpo.build_model(args.shape, device, dtype)
    set_cudnn_attention(False, device)  # rlvr's default (model.cudnn_attention), as load_model sets it
    result: dict = {"shape": args.shape, "device": str(device)}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name()
        result["sdpa_backends"] = {
            "flash": torch.backends.cuda.flash_sdp_enabled(),
            "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
            "cudnn": torch.backends.cuda.cudnn_sdp_enabled(),
            "math": torch.backends.cuda.math_sdp_enabled(),
        }
    result["decode_ms_per_step_128_rows"] = generation(args, model, tok, device)
    print(json.dumps(result), flush=True)
    result["logprobs_fwd_bwd"] = logprob_paths(args, device)
    print(json.dumps(result["logprobs_fwd_bwd"]), flush=True)
    tables = profiles(args, model, tok, device)
    out_dir = Path(args.out_dir) if args.out_dir else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "gpu_profile.json").write_text(json.dumps(result, indent=1))
        for name, table in tables.items():
            (out_dir / f"profile_{name}.txt").write_text(table)
    for name, table in tables.items():
        print(f"\n==== torch.profiler: {name} ====")
        print("\n".join(table.splitlines()[:20]))


if __name__ == "__main__":
    main()
