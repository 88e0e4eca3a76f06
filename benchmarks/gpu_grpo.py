"""GRPO throughput on one GPU at real model shapes: rlvr (hf or vLLM engine) and TRL's GRPOTrainer.

    python benchmarks/gpu_grpo.py                                   # 0.5B and 1.5B shapes, hf engine, TRL
    python benchmarks/gpu_grpo.py --shapes qwen2.5-0.5b --engines hf vllm --no-trl
    python benchmarks/gpu_grpo.py --device cpu --tiny               # a few seconds: checks the script
    python benchmarks/gpu_grpo.py --shapes qwen2.5-0.5b --no-trl --steps 2 --sync-debug   # host syncs
    python benchmarks/gpu_grpo.py --shapes qwen2.5-0.5b --engines hf --cudnn-sdp on      # cuDNN attention on

Models are randomly initialised from Qwen2.5-0.5B's and Qwen2.5-1.5B's configurations (no download:
the machines that run this have no hub access), in bfloat16 (parameters, gradients and AdamW moments all
bf16, on both sides). The tokenizer is built here: a word-level vocabulary of exactly the model's 151,936
ids ("<pad>", "<eos>", then "t2" ... "t151935"), so the LM head and the log-softmax run over the real
vocabulary. Prompts are random ids of random lengths (left-padded); the reward is a coin flip per
completion, seeded (the work does not depend on correctness: this measures throughput only). A
random model almost never samples EOS (1 in 151,936 a token), so completions run to ``--max-new-tokens``.

Each run: ``--steps`` GRPO steps of ``--prompts`` prompts x ``--n`` completions, one optimizer step per
batch (strictly on-policy: no separate old-log-prob pass), micro-batches of ``--micro`` sequences,
token-mean loss, clip 0.2 / 0.28, no KL, lr 1e-6. Step 1 is warm-up; figures are over steps 2..N:

    generated tokens/s  = completion tokens / generation seconds
    learner tokens/s    = (prompt + completion) tokens of all rows / update seconds
    MFU                 = model FLOPs / seconds / peak, with N = all parameters (the tied embedding counted
                          once: it is the LM head's matmul) and attention's score FLOPs left out;
                          generation: 2 N x (distinct prompt tokens + generated tokens);
                          update: 6 N x learner tokens (forward 2N + backward 4N; rlvr's shared-prompt
                          pass does less work, so its MFU is by this standard count, not the work done);
                          peak: --peak-tflops (H200 / H100 SXM dense bf16: 989.5 TFLOP/s, datasheet).
    peak GPU memory     = torch.cuda.max_memory_allocated over the run (weights, AdamW, activations, KV
                          cache), reset before each run. vLLM's own pool is not in it (it reserves
                          gpu_memory_utilization of the card).

rlvr's step is timed by parts (generate; collate + reward + advantages; update; weight sync for vLLM)
with a device sync at each boundary. TRL's generation is the time in ``_generate_and_score_completions``
(generation, reward, advantages), its update the rest of the step (from one ``on_step_end`` to the next).
TRL's settings mirror rlvr's as benchmarks/vs_trl.py describes (loss_type dapo = token_mean,
scale_rewards group, beta 0, num_iterations 1, gradient accumulation = batch / micro); it generates with
transformers' ``generate`` (use_vllm off) with bf16 autocast on bf16 weights.

``--sync-debug`` counts the synchronizing CUDA operations of rlvr's generation
(``torch.cuda.set_sync_debug_mode("warn")``, one warning each, recorded) and prints them by source line
with ``gen_syncs_per_step`` / ``gen_syncs_per_token`` in the table; the hf engine is meant to sync about
once every ``rlvr.rollout.hf_engine.SYNC_EVERY`` decode steps (plus a few a chunk), not once a token.

vLLM: ``--engines vllm`` runs rlvr's VLLMEngine colocated with the learner on the same GPU (in-process
engine, weights reloaded after each update with ``load_weights``). Where vLLM is not importable the run
is skipped with a message; its wheel is far over what the lent GPU machines can carry, so the figures in
docs/performance.md are for the hf engine only.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

VOCAB = 151936
SHAPES: dict[str, dict[str, int]] = {
    # from the models' config.json (Qwen/Qwen2.5-0.5B, Qwen/Qwen2.5-1.5B); both tie their embeddings
    "qwen2.5-0.5b": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=VOCAB,
    ),
    "qwen2.5-1.5b": dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
        num_key_value_heads=2, vocab_size=VOCAB,
    ),
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=1024,
    ),
}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", nargs="+", default=["qwen2.5-0.5b", "qwen2.5-1.5b"], choices=list(SHAPES))
    p.add_argument("--engines", nargs="+", default=["hf", "vllm"], choices=["hf", "vllm"])
    p.add_argument("--no-trl", action="store_true", help="skip TRL's GRPOTrainer")
    add_workload_args(p, steps=3, prompts=16, n=8, max_new_tokens=256, prompt_len=(32, 128))
    p.add_argument("--micro", type=int, default=32, help="sequences per forward/backward")
    p.add_argument("--device", default="cuda")
    p.add_argument("--peak-tflops", type=float, default=989.5, help="dense bf16 peak of the device")
    p.add_argument("--budget-s", type=float, default=420, help="start no new run after this many seconds")
    p.add_argument(
        "--sync-debug", action="store_true",
        help="count rlvr's host-device syncs during generation (torch.cuda.set_sync_debug_mode('warn')) and "
        "print where they come from; the counting slows generation, so its timings are not comparable",
    )  # fmt: skip
    p.add_argument(
        "--cudnn-sdp", choices=["as-users-run", "on", "off"], default="as-users-run",
        help="PyTorch's cuDNN attention backend (torch.backends.cuda.enable_cudnn_sdp): 'as-users-run' gives "
        "each trainer its own default (rlvr: off, model.cudnn_attention; TRL: PyTorch's, on), 'on' / 'off' "
        "set it for both. cuDNN builds a plan per new shape, which a decode meets at every step",
    )  # fmt: skip
    p.add_argument(
        "--shared-prefix", choices=["auto", "on", "off"], default="auto",
        help="rlvr's learner: trainer.shared_prefix (auto: its default, off on a GPU and on on the CPU; on: "
        "each prompt once and responses in up to two trimmed passes; off: one pass a micro-batch)",
    )  # fmt: skip
    p.add_argument(
        "--cuda-graphs", action="store_true",
        help="rlvr's hf engine replays each decode step as a CUDA graph (rollout.cuda_graphs; a CUDA device only)",
    )  # fmt: skip
    p.add_argument("--tiny", action="store_true", help="the tiny shape, 2 steps, short sequences (CPU check)")
    p.add_argument("--output", default=None, help="JSON results file")
    args = p.parse_args(argv)
    if args.tiny:
        args.shapes, args.steps, args.prompts, args.n, args.micro = ["tiny"], 2, 2, 4, 4
        args.max_new_tokens, args.prompt_len = 8, [3, 6]
    return args


def add_workload_args(
    p: argparse.ArgumentParser,
    steps: int,
    prompts: int,
    n: int,
    max_new_tokens: int,
    prompt_len: tuple[int, int],
) -> None:
    """The options that every GRPO benchmark here shares (this script, vs_trl_shapes.py, profile_shapes.py),
    with their help, and each script's defaults."""
    p.add_argument("--steps", type=int, default=steps, help="GRPO steps a run (step 1 is warm-up)")
    p.add_argument("--prompts", type=int, default=prompts, help="prompts per step")
    p.add_argument("--n", type=int, default=n, help="completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="completion length limit")
    p.add_argument(
        "--prompt-len",
        type=int,
        nargs=2,
        default=list(prompt_len),
        help="min and max prompt tokens (random ids)",
    )
    p.add_argument(
        "--dtype", choices=list(DTYPES), default=None,
        help="the models' parameter dtype, the same on both sides (default: bfloat16 on a GPU, float32 on the "
        "CPU). Pure: parameters, gradients and AdamW moments in it, as rlvr's model.dtype does; TRL's model is "
        "built the same way and, on the CPU, gets no autocast (GRPOConfig bf16=False); on a GPU TRL's bf16 "
        "autocast is on with bfloat16 (GRPOConfig bf16=True, a no-op for its bf16 matmuls)",
    )  # fmt: skip


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def model_dtype(args: argparse.Namespace, device: torch.device) -> torch.dtype:
    """``--dtype``, else bfloat16 on a GPU and float32 on the CPU."""
    name = getattr(args, "dtype", None)
    if name is not None:
        return DTYPES[name]
    return torch.bfloat16 if device.type == "cuda" else torch.float32


# ---- model, tokenizer, prompts ------------------------------------------------------------------
def build_tokenizer(vocab_size: int):
    """A word-level tokenizer of exactly ``vocab_size`` ids: <pad>, <eos>, t2 ... t{V-1}."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, **{f"t{i}": i for i in range(2, vocab_size)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>")
    tok.padding_side = "left"
    return tok


def build_model(shape: str, device: torch.device, dtype: torch.dtype, seed: int = 0, eos_bias: float = 0.0):
    """A randomly initialised causal LM of ``shape`` (Qwen2, or Llama where the shape says ``arch:
    llama``), built directly on ``device``. ``eos_bias`` adds that much to the EOS logit, through a frozen
    bias of the LM head (a plain ``nn.Linear`` still, which rlvr's decoder packs on the CPU; a forward hook
    would have to run, so it would not be packed): > 0 for completions that end at varied lengths,
    ``vs_trl_shapes.NO_EOS`` for none that end."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    dims = dict(SHAPES[shape])
    llama = dims.pop("arch", "qwen2") == "llama"
    config_cls, model_cls = (LlamaConfig, LlamaForCausalLM) if llama else (Qwen2Config, Qwen2ForCausalLM)
    config = config_cls(
        **dims,
        tie_word_embeddings=True,
        rope_theta=10_000.0 if llama else 1_000_000.0,
        max_position_embeddings=4096,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=1,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = model_cls(config)
    if eos_bias:
        bias = torch.zeros(config.vocab_size, device=device)
        bias[1] = eos_bias
        model.lm_head.bias = torch.nn.Parameter(bias, requires_grad=False)
    return model.to(dtype).train()


def make_prompts(args: argparse.Namespace, vocab: int, seed: int) -> list[list[int]]:
    """``steps x prompts`` prompts of random ids (never pad / eos) and random lengths."""
    rng = random.Random(seed)
    lo, hi = args.prompt_len
    return [
        [rng.randrange(2, vocab) for _ in range(rng.randint(lo, hi))]
        for _ in range(args.steps * args.prompts)
    ]


def coin_rewards(count: int, rng: random.Random) -> list[float]:
    return [float(rng.random() < 0.5) for _ in range(count)]


# ---- measurement --------------------------------------------------------------------------------
@dataclass
class StepTimes:
    gen_s: float
    update_s: float
    other_s: float
    gen_tokens: int
    prefill_tokens: int
    learner_tokens: int
    gen_syncs: int = -1  # host-device syncs during generation (--sync-debug on a GPU), -1: not counted
    gen_cpu_s: float = 0.0  # the process's CPU seconds (time.process_time) in generation
    step_cpu_s: float = 0.0  # ... in the whole step (on a loaded CPU machine: the step's own work)


@dataclass
class RunResult:
    name: str
    shape: str
    params: int
    steps: list[StepTimes] = field(default_factory=list)
    peak_mem_gib: float = 0.0
    error: str | None = None
    param_dtypes: str = ""  # the trained model's parameter dtypes after the run, as checked

    def summary(self, peak_flops: float) -> dict[str, Any]:
        timed = self.steps[1:] or self.steps
        if not timed:
            return {"name": self.name, "shape": self.shape, "error": self.error}
        gen_s = sum(s.gen_s for s in timed)
        upd_s = sum(s.update_s for s in timed)
        step_s = statistics.median(s.gen_s + s.update_s + s.other_s for s in timed)
        gen_tok = sum(s.gen_tokens for s in timed)
        gen_flops = 2 * self.params * sum(s.gen_tokens + s.prefill_tokens for s in timed)
        learn_tok = sum(s.learner_tokens for s in timed)
        counted = all(s.gen_syncs >= 0 for s in timed) or None  # None: syncs not counted
        return {
            "name": self.name,
            "shape": self.shape,
            "params_M": round(self.params / 1e6, 1),
            "timed_steps": len(timed),
            "s_per_step": round(step_s, 3),
            "gen_s_per_step": round(gen_s / len(timed), 3),
            "update_s_per_step": round(upd_s / len(timed), 3),
            "gen_tokens_per_s": round(gen_tok / gen_s, 1),
            "learner_tokens_per_s": round(learn_tok / upd_s, 1),
            "gen_mfu_pct": round(100 * gen_flops / gen_s / peak_flops, 2),
            "update_mfu_pct": round(100 * 6 * self.params * learn_tok / upd_s / peak_flops, 2),
            "peak_mem_gib": round(self.peak_mem_gib, 2),
            "gen_syncs_per_step": counted and statistics.mean(s.gen_syncs for s in timed),
            "gen_syncs_per_token": counted
            and round(sum(s.gen_syncs for s in timed) / max(sum(s.gen_tokens for s in timed), 1), 3),
            "error": self.error,
        }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


class SyncCounter:
    """Counts synchronizing CUDA operations inside ``with`` blocks (``torch.cuda.set_sync_debug_mode``
    warns at each), by the source line that caused them; a no-op unless enabled on a CUDA device."""

    def __init__(self, device: torch.device, enabled: bool) -> None:
        self.enabled = enabled and device.type == "cuda"
        self.by_line: Counter[str] = Counter()
        self.count = 0
        self.last = 0  # syncs in the last ``counting`` block

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        before = self.count
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                yield
            finally:
                torch.cuda.set_sync_debug_mode("default")
        for w in caught:
            if "synchroniz" in str(w.message):
                self.count += 1
                self.by_line[f"{w.filename}:{w.lineno}"] += 1
        self.last = self.count - before

    def report(self, name: str, top: int = 12) -> None:
        if not self.enabled:
            return
        print(f"  {name}: {self.count} synchronizing CUDA operations in generation, by source line:")
        for line, n in self.by_line.most_common(top):
            print(f"    {n:7d}  {line}")


def step_hook(args: argparse.Namespace) -> None:
    """Call ``args.step_hook`` (a profiler's ``step``, say) after each step, where a caller set one."""
    hook = getattr(args, "step_hook", None)
    if hook is not None:
        hook()


def cudnn_sdp(args: argparse.Namespace, default: bool) -> bool:
    """Whether a trainer's run may use PyTorch's cuDNN attention backend: ``--cudnn-sdp`` on / off, else
    the trainer's own ``default``."""
    choice = getattr(args, "cudnn_sdp", "as-users-run")
    return default if choice == "as-users-run" else choice == "on"


def param_dtypes(model: torch.nn.Module) -> str:
    """The distinct dtypes of ``model``'s parameters, e.g. "torch.bfloat16"."""
    return ",".join(sorted({str(p.dtype) for p in model.parameters()}))


def peak_memory_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")


# ---- rlvr ---------------------------------------------------------------------------------------
def rlvr_engine(engine: str, model, tok, args: argparse.Namespace, workdir: Path):
    """rlvr's hf engine on the learner's own model, or its vLLM engine on a saved copy."""
    batch = args.prompts * args.n
    if engine == "hf":
        from rlvr.rollout.hf_engine import HFEngine

        return HFEngine(
            model, tok, max_batch_size=batch, seed=0, cuda_graphs=getattr(args, "cuda_graphs", False)
        )
    from rlvr.rollout.vllm_engine import VLLMEngine

    path = workdir / "vllm_model"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return VLLMEngine(
        str(path), tok, dtype="bfloat16", max_batch_size=batch, gpu_memory_utilization=0.3,
        max_model_len=args.prompt_len[1] + args.max_new_tokens + 8,
    )  # fmt: skip


def run_rlvr(engine_name: str, shape: str, args: argparse.Namespace, device: torch.device) -> RunResult:
    from rlvr.algorithms import ADVANTAGES, AlgorithmConfig
    from rlvr.config import OptimConfig, TrainerConfig
    from rlvr.models.attention import set_cudnn_attention
    from rlvr.rollout.types import SamplingParams
    from rlvr.training.batch import collate, last_token_rewards
    from rlvr.training.learner import Learner

    dtype = model_dtype(args, device)
    tok = build_tokenizer(SHAPES[shape]["vocab_size"])
    model = build_model(shape, device, dtype, eos_bias=getattr(args, "eos_bias", 0.0))
    set_cudnn_attention(cudnn_sdp(args, default=False), device)  # as rlvr.models.load.load_model does
    graphs = (
        "-graphs"
        if engine_name == "hf" and getattr(args, "cuda_graphs", False) and device.type == "cuda"
        else ""
    )
    prefix = {"on": "-shared-prefix", "off": "-one-pass"}.get(getattr(args, "shared_prefix", "auto"), "")
    name = f"rlvr-{engine_name}{graphs}{prefix}"
    result = RunResult(name, shape, sum(p.numel() for p in model.parameters()))
    algo = AlgorithmConfig(eps_low=0.2, eps_high=0.28, loss_agg="token_mean", kl_coef=0.0)
    shared_prefix = {"auto": None, "on": True, "off": False}[getattr(args, "shared_prefix", "auto")]
    trainer = TrainerConfig(
        steps=args.steps, prompts_per_step=args.prompts, micro_batch_size=args.micro,
        skip_zero_advantage=False,  # every row trained: the learner token count is the work done
        shared_prefix=shared_prefix,
    )  # fmt: skip
    learner = Learner(model, algo, OptimConfig(lr=1e-6), trainer, args.steps, 1.0, args.max_new_tokens)
    params = SamplingParams(n=args.n, temperature=1.0, max_new_tokens=args.max_new_tokens)
    prompts = make_prompts(args, SHAPES[shape]["vocab_size"], seed=1)
    rng = random.Random(2)
    with tempfile.TemporaryDirectory(prefix="gpu-grpo-") as tmp:
        engine = rlvr_engine(engine_name, model, tok, args, Path(tmp))
        estimator = ADVANTAGES.get(algo.advantage)
        syncs = SyncCounter(device, getattr(args, "sync_debug", False))
        for step in range(args.steps):
            chunk = prompts[step * args.prompts : (step + 1) * args.prompts]
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            with syncs.counting():
                completions = engine.generate(chunk, params)
            t1, c1 = time.perf_counter(), time.process_time()
            batch = collate(completions, tok.pad_token_id)
            scores = torch.tensor(coin_rewards(len(completions), rng))
            group = torch.tensor([c.prompt_index for c in completions])
            adv, _ = estimator(
                last_token_rewards(scores, batch.response_mask), batch.response_mask, group, algo
            )
            t2 = time.perf_counter()
            learner.update(batch, adv, None, None)
            sync(device)
            t3 = time.perf_counter()
            if engine_name == "vllm":
                engine.load_weights(model.state_dict().items())
            sync(device)
            t4, c4 = time.perf_counter(), time.process_time()
            result.steps.append(
                StepTimes(
                    gen_s=t1 - t0, update_s=t3 - t2, other_s=(t2 - t1) + (t4 - t3),
                    gen_tokens=sum(len(c.token_ids) for c in completions),
                    prefill_tokens=sum(len(p) for p in chunk),
                    learner_tokens=int(batch.attention_mask.sum()),
                    gen_syncs=syncs.last if syncs.enabled else -1,
                    gen_cpu_s=c1 - c0, step_cpu_s=c4 - c0,
                )
            )  # fmt: skip
            print(f"  {result.name} {shape} step {step + 1}: {asdict(result.steps[-1])}", flush=True)
            step_hook(args)
    syncs.report(f"{result.name} {shape}")
    result.peak_mem_gib = peak_memory_gib(device)
    result.param_dtypes = param_dtypes(model)
    return result


# ---- TRL ----------------------------------------------------------------------------------------
def run_trl(shape: str, args: argparse.Namespace, device: torch.device, workdir: Path) -> RunResult:
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    dtype = model_dtype(args, device)
    if device.type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(cudnn_sdp(args, default=True))  # PyTorch's own default: on
    autocast = device.type == "cuda" and dtype == torch.bfloat16  # TRL's bf16 flag: autocast, on GPU only
    tok = build_tokenizer(SHAPES[shape]["vocab_size"])
    model = build_model(shape, device, dtype, eos_bias=getattr(args, "eos_bias", 0.0))
    result = RunResult("trl-hf", shape, sum(p.numel() for p in model.parameters()))
    prompts = make_prompts(args, SHAPES[shape]["vocab_size"], seed=1)
    dataset = Dataset.from_list([{"prompt": " ".join(f"t{i}" for i in ids)} for ids in prompts])
    rng = random.Random(2)
    counted: dict[str, int] = {"gen": 0, "learn": 0}

    def coin(
        prompts: list[str], completions: list[str], completion_ids: list[list[int]], **_: Any
    ) -> list[float]:
        counted["gen"] += sum(len(c) for c in completion_ids)
        counted["learn"] += sum(len(c) for c in completion_ids) + sum(len(p.split()) for p in prompts)
        return coin_rewards(len(completions), rng)

    batch = args.prompts * args.n
    config = GRPOConfig(
        output_dir=str(workdir / "trl"), use_cpu=device.type != "cuda", bf16=autocast, fp16=False,
        gradient_checkpointing=False, seed=0, per_device_train_batch_size=args.micro,
        gradient_accumulation_steps=batch // args.micro, num_generations=args.n, num_iterations=1,
        shuffle_dataset=False, max_steps=args.steps, max_completion_length=args.max_new_tokens,
        temperature=1.0, top_p=1.0, beta=0.0, epsilon=0.2, epsilon_high=0.28, loss_type="dapo",
        scale_rewards="group", mask_truncated_completions=False, learning_rate=1e-6,
        lr_scheduler_type="constant", optim="adamw_torch", max_grad_norm=1.0, logging_steps=1,
        save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, log_completions=False,
    )  # fmt: skip
    marks: list[float] = []  # each step's start and end, in turn (a step hook runs between steps)
    cpu_marks: list[float] = []
    gen_s: list[float] = []
    gen_cpu: list[float] = []
    counts: list[tuple[int, int]] = []

    class Marks(TrainerCallback):
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            sync(device)
            marks.append(time.perf_counter())
            cpu_marks.append(time.process_time())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            sync(device)
            marks.append(time.perf_counter())
            cpu_marks.append(time.process_time())
            counts.append((counted["gen"], counted["learn"]))
            counted["gen"] = counted["learn"] = 0
            step_hook(args)
            self.on_train_begin()  # the next step starts after the hook

    trainer = GRPOTrainer(
        model=model, reward_funcs=coin, args=config, train_dataset=dataset, processing_class=tok,
        callbacks=[Marks()],
    )  # fmt: skip
    trainer.remove_callback(PrinterCallback)
    inner: Callable = trainer._generate_and_score_completions

    def timed(*a: Any, **k: Any) -> Any:
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        out = inner(*a, **k)
        sync(device)
        gen_s.append(time.perf_counter() - t0)
        gen_cpu.append(time.process_time() - c0)
        return out

    trainer._generate_and_score_completions = timed
    trainer.train()
    for i, (gen_tok, learn_tok) in enumerate(counts):
        step_s = marks[2 * i + 1] - marks[2 * i]
        prefill = sum(len(p) for p in prompts[i * args.prompts : (i + 1) * args.prompts])
        step_cpu = cpu_marks[2 * i + 1] - cpu_marks[2 * i]
        times = StepTimes(gen_s[i], step_s - gen_s[i], 0.0, gen_tok, prefill, learn_tok)
        times.gen_cpu_s, times.step_cpu_s = gen_cpu[i], step_cpu
        result.steps.append(times)
        print(f"  trl-hf {shape} step {i + 1}: {asdict(result.steps[-1])}", flush=True)
    result.peak_mem_gib = peak_memory_gib(device)
    result.param_dtypes = param_dtypes(trainer.model)
    return result


# ---- main ---------------------------------------------------------------------------------------
def environment(device: torch.device) -> dict[str, str]:
    import transformers

    env = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    for name in ("trl", "vllm"):
        try:
            env[name] = __import__(name).__version__
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            env[name] = f"not importable ({type(exc).__name__}: {exc})"
    return env


def plan(args: argparse.Namespace) -> list[tuple[str, str]]:
    runs = [(f"rlvr-{e}", s) for s in args.shapes for e in args.engines]
    if not args.no_trl:
        runs += [("trl-hf", s) for s in args.shapes]
    return sorted(runs, key=lambda r: args.shapes.index(r[1]))  # by shape: each shape's figures together


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rlvr.models.load import quiet_transformers

    quiet_transformers()
    device = torch.device(args.device)
    env = environment(device)
    env["cudnn_sdp"] = args.cudnn_sdp
    env["cuda_graphs"] = args.cuda_graphs and device.type == "cuda"  # a capture is of CUDA work only
    env["shared_prefix"] = args.shared_prefix
    print("environment:", json.dumps(env), flush=True)
    peak_flops = args.peak_tflops * 1e12
    summaries: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-grpo-") as tmp:
        for name, shape in plan(args):
            if time.perf_counter() - start > args.budget_s:
                print(f"SKIPPED {name} {shape}: past --budget-s {args.budget_s}", flush=True)
                continue
            if name == "rlvr-vllm" and env["vllm"].startswith("not importable"):
                print(f"SKIPPED {name} {shape}: vllm {env['vllm']}", flush=True)
                continue
            if name == "trl-hf" and env["trl"].startswith("not importable"):
                print(f"SKIPPED {name} {shape}: trl {env['trl']}", flush=True)
                continue
            reset_memory(device)
            print(f"== {name} {shape}", flush=True)
            t0 = time.perf_counter()
            try:
                if name == "trl-hf":
                    result = run_trl(shape, args, device, Path(tmp))
                else:
                    result = run_rlvr(name.removeprefix("rlvr-"), shape, args, device)
            except Exception as exc:  # noqa: BLE001 - one failed run is reported, the others go on
                result = RunResult(name, shape, 0, error=f"{type(exc).__name__}: {str(exc)[:300]}")
                print(f"FAILED {name} {shape}: {result.error}", flush=True)
            summaries.append(result.summary(peak_flops))
            print(f"   {json.dumps(summaries[-1])}   ({time.perf_counter() - t0:.0f} s)", flush=True)
            gc.collect()
    print_table(summaries, args)
    if args.output:
        Path(args.output).write_text(
            json.dumps({"args": vars(args), "env": env, "runs": summaries}, indent=1)
        )


def print_table(summaries: list[dict[str, Any]], args: argparse.Namespace) -> None:
    cols = [
        "name", "shape", "params_M", "s_per_step", "gen_s_per_step", "update_s_per_step",
        "gen_tokens_per_s", "learner_tokens_per_s", "gen_mfu_pct", "update_mfu_pct", "peak_mem_gib",
    ]  # fmt: skip
    if getattr(args, "sync_debug", False):
        cols += ["gen_syncs_per_step", "gen_syncs_per_token"]
    print(
        f"\n{args.prompts} prompts x {args.n} completions, up to {args.max_new_tokens} new tokens, prompts "
        f"{args.prompt_len[0]}-{args.prompt_len[1]} tokens, micro-batch {args.micro}, steps 2..{args.steps}"
    )
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for s in summaries:
        if s.get("error") and "s_per_step" not in s:
            print(f"| {s['name']} | {s['shape']} | failed: {s['error']} |")
            continue
        print("| " + " | ".join(str(s.get(c, "")) for c in cols) + " |")


if __name__ == "__main__":
    main()
