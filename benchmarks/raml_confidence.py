"""One forward per trace vs one forward per prefix for RaML's confidence probe, on a 2,000-token trace.

    python benchmarks/raml_confidence.py [--tokens 2000] [--every 10] [--device cpu] [--threads 2]

Builds a tiny Llama-style model (no download), a random trace of ``--tokens`` tokens and a 12-token answer
block (8 answer-prompt tokens, 4 gold), measures L at every ``--every``-th prefix both ways, and prints
the seconds of each, their ratio and the largest gap between the two (float32).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rlvr.eval.analysis.confidence import answer_nll_per_prefix, answer_nll_shared
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--max-block-tokens", type=int, default=8192)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = build_tokenizer()
    cfg = TinyModelConfig(
        hidden_size=args.hidden,
        intermediate_size=3 * args.hidden,
        num_layers=args.layers,
        max_positions=args.tokens + 64,
    )
    model = build_tiny_model(cfg, tok).to(args.device).eval()
    model.set_attn_implementation(args.attn)
    g = torch.Generator().manual_seed(0)
    ctx = torch.randint(4, len(tok), (args.tokens,), generator=g).to(args.device)
    block = torch.randint(4, len(tok), (12,), generator=g).to(args.device)
    lens = torch.arange(1, args.tokens + 1, args.every, device=args.device)

    def timed(fn):
        fn()  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return out, time.perf_counter() - t0

    shared, t_shared = timed(lambda: answer_nll_shared(model, ctx, block, 4, lens, args.max_block_tokens))
    loop, t_loop = timed(lambda: answer_nll_per_prefix(model, ctx, block, 4, lens.tolist()))
    result = {
        "trace_tokens": args.tokens,
        "points": lens.numel(),
        "device": args.device,
        "attn": args.attn,
        "one_forward_s": round(t_shared, 4),
        "per_prefix_s": round(t_loop, 4),
        "speedup": round(t_loop / t_shared, 2),
        "max_abs_gap": float((shared - loop).abs().max()),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
