"""A FAKE of the few vLLM objects that ``rlvr.rollout.vllm_engine`` touches: for tests on machines
without vLLM (no GPU). It is not vLLM; it follows vLLM's documented behaviour on the points the engine
and the episode runner depend on, so that code path runs end to end:

* ``TokensPrompt(prompt_token_ids=...)``: a dict, as vLLM's TypedDict is.
* ``SamplingParams``: per request; checks what vLLM's ``_verify_args`` checks for the fields used
  (``max_tokens >= 1``, stop strings need ``detokenize=True``, ``temperature >= 0``).
* ``LLM(model_path, **kwargs).generate(prompts, params_list, use_tqdm=False)``: one
  ``RequestOutput`` per prompt, in order, each with one ``CompletionOutput`` (``token_ids``,
  ``logprobs``: one ``{token_id: Logprob}`` per generated token, ``finish_reason`` "stop" | "length",
  ``stop_reason``, ``text``). Sampling runs a Hugging Face model loaded from ``model_path``, one
  ``torch.Generator`` per request seeded with its ``seed``; greedy at temperature 0. Log-probs are
  vLLM's ``processed_logprobs``: log_softmax of the logits after temperature and top-k / top-p (at
  temperature 0, of the raw logits). A generated EOS token ends the request and is kept in
  ``token_ids``; stop strings are searched, as vLLM's incremental detokenizer does, in the text decoded
  with special tokens skipped, over the new characters only; the text is cut after the stop string
  (``include_stop_str_in_output``) but ``token_ids`` keep the whole last token. A prompt longer than
  ``max_model_len`` is a ValueError; a request reaching it ends with "length".
* ``LLM.collective_rpc("reload_weights", kwargs={"weights_iterator": ...})``, ``reset_prefix_cache()``,
  ``llm_engine.model_executor`` (a ``UniProcExecutor``), ``llm_engine.engine_core.shutdown()``.

Every call is recorded (``FakeLLM.requests``: the prompt ids and SamplingParams of each request, and the
output) so tests can check what the engine was conditioned on and what it sampled.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import torch

INSTANCES: list[FakeLLM] = []


def TokensPrompt(prompt_token_ids: list[int]) -> dict[str, Any]:  # noqa: N802 (vLLM's name)
    return {"prompt_token_ids": prompt_token_ids}


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int | None = 16
    stop: list[str] | None = None
    include_stop_str_in_output: bool = False
    logprobs: int | None = None
    seed: int | None = None
    detokenize: bool = True

    def __post_init__(self) -> None:
        if self.n != 1:
            raise NotImplementedError("the fake samples n=1 per request (the engine asks for nothing else)")
        if self.temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {self.temperature}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.stop and not self.detokenize:
            raise ValueError("stop strings are only supported when detokenize is True")


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool = True


class UniProcExecutor:
    """vLLM's one-process executor: the engine's model lives in this process."""


class _EngineCore:
    def __init__(self) -> None:
        self.shut = False

    def shutdown(self) -> None:
        self.shut = True


@dataclass
class _LLMEngine:
    model_executor: UniProcExecutor = field(default_factory=UniProcExecutor)
    engine_core: _EngineCore = field(default_factory=_EngineCore)


class FakeLLM:
    """``vllm.LLM``, faked on a Hugging Face model (see the module docstring)."""

    def __init__(self, model: str, *, tokenizer: str | None = None, **kwargs: Any) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.kwargs = {"model": model, "tokenizer": tokenizer, **kwargs}
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
        self.max_model_len = int(kwargs.get("max_model_len") or self.model.config.max_position_embeddings)
        self.llm_engine = _LLMEngine()
        self.requests: list[tuple[list[int], SamplingParams, CompletionOutput]] = []
        self.reloads = 0
        self._next_id = 0
        INSTANCES.append(self)

    def generate(self, prompts: list[dict], sampling_params, use_tqdm: bool = True) -> list[RequestOutput]:
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        if len(params) != len(prompts):
            raise ValueError("The lengths of prompts and sampling_params must be the same.")
        outputs = []
        for prompt, p in zip(prompts, params, strict=True):
            ids = list(prompt["prompt_token_ids"])
            if len(ids) > self.max_model_len:
                raise ValueError(
                    f"The decoder prompt (length {len(ids)}) is longer than the maximum model length "
                    f"of {self.max_model_len}."
                )
            out = self._sample(ids, p)
            self.requests.append((ids, p, out))
            outputs.append(RequestOutput(str(self._next_id), None, ids, [out]))
            self._next_id += 1
        return outputs

    @torch.no_grad()
    def _sample(self, prompt: list[int], p: SamplingParams) -> CompletionOutput:
        gen = torch.Generator().manual_seed(p.seed if p.seed is not None else 0)
        tokens: list[int] = []
        logprobs: list[dict[int, Logprob]] = []
        text, finish, stop_reason = "", "length", None
        eos = self.tokenizer.eos_token_id
        limit = p.max_tokens or self.max_model_len
        while len(tokens) < limit and len(prompt) + len(tokens) < self.max_model_len:
            logits = self.model(torch.tensor([prompt + tokens])).logits[0, -1].float()  # (V,)
            token, logp = _draw(logits, p, gen)
            tokens.append(token)
            logprobs.append({token: Logprob(logp, None, self.tokenizer.decode([token]))})
            if token == eos:
                finish = "stop"
                break
            new_text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            hit = _check_stop_strings(
                new_text, len(new_text) - len(text), p.stop or [], p.include_stop_str_in_output
            )
            text = new_text
            if hit is not None:
                stop_reason, cut = hit
                text = text if cut == -1 else text[:cut]
                finish = "stop"
                break
        cumulative = sum(next(iter(d.values())).logprob for d in logprobs)
        return CompletionOutput(
            0,
            text if p.detokenize else "",
            tokens,
            cumulative,
            logprobs if p.logprobs is not None else None,
            finish,
            stop_reason,
        )

    def collective_rpc(self, method: str, kwargs: dict | None = None) -> list[Any]:
        if method != "reload_weights":
            raise NotImplementedError(f"the fake vLLM worker has no method {method!r}")
        weights = dict((kwargs or {})["weights_iterator"])
        self.model.load_state_dict(weights, strict=True)
        self.reloads += 1
        return [None]

    def reset_prefix_cache(self) -> bool:
        return True


def _draw(logits: torch.Tensor, p: SamplingParams, gen: torch.Generator) -> tuple[int, float]:
    """The sampled token and its processed log-prob. logits: (V,)"""
    if p.temperature == 0:
        token = int(logits.argmax())
        return token, float(logits.log_softmax(-1)[token])
    scaled = logits / p.temperature
    if 0 < p.top_k < scaled.numel():
        kth = torch.topk(scaled, p.top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if p.top_p < 1.0:
        sorted_logits, order = torch.sort(scaled, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = torch.zeros_like(probs, dtype=torch.bool).scatter(
            0, order, probs.cumsum(-1) - probs >= p.top_p
        )
        scaled = scaled.masked_fill(drop, float("-inf"))
    logp = scaled.log_softmax(-1)  # (V,)
    token = int(torch.multinomial(logp.exp(), 1, generator=gen))
    return token, float(logp[token])


def _check_stop_strings(text: str, new_chars: int, stop: list[str], include: bool) -> tuple[str, int] | None:
    """vLLM's ``check_stop_strings``: (stop string, length to cut the text to, -1 for none) or None."""
    if not new_chars or not stop:
        return None
    for s in stop:
        index = text.find(s, 1 - new_chars - len(s))
        if index == -1:
            continue
        if include:
            index += len(s)
            if index >= len(text):
                return s, -1
        return s, index
    return None


def install(monkeypatch) -> None:
    """Put this fake in ``sys.modules`` as ``vllm`` (and the submodules the engine imports), for one test."""
    modules = {
        "vllm": {"LLM": FakeLLM, "SamplingParams": SamplingParams, "TokensPrompt": TokensPrompt},
        "vllm.platforms": {"current_platform": types.SimpleNamespace(is_cpu=lambda: False)},
        "vllm.v1": {},
        "vllm.v1.executor": {},
        "vllm.v1.executor.uniproc_executor": {"UniProcExecutor": UniProcExecutor},
        "vllm.distributed": {},
        "vllm.distributed.parallel_state": {"cleanup_dist_env_and_memory": lambda: None},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name, "FAKE vLLM for tests (tests/rollout/fake_vllm.py)")
        for k, v in attrs.items():
            setattr(module, k, v)
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    assert "vllm" in sys.modules
