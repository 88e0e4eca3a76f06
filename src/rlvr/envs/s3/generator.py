"""The frozen generator: any ``answer(question, docs) -> text``, behind a registry.

Built-ins: ``world_reader`` (a deterministic reader of the synthetic world's sentences: it chains
"X was born in C." and "C lies in N." facts found in the docs, nothing else; the tiny recipe's
generator and the tests' stand-in), ``hf`` (a transformers causal LM, greedy, from a path or hub id) and
``openai`` (any OpenAI-compatible chat endpoint: vLLM, SGLang, a hosted model).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rlvr.envs.chat import openai_chat
from rlvr.registry import Registry, build_once
from rlvr.retrieval import Hit

Answerer = Callable[[str, list[Hit]], str]
ANSWERERS: Registry[Callable[..., Answerer]] = Registry("s3 generator")
_CACHE: dict[str, Answerer] = {}


def render_context(docs: list[Hit]) -> str:
    """The generator's context: ``Doc i (Title: t)\\nbody`` blocks, as the official reward builds it."""
    return "".join(f"Doc {i} (Title: {d.title})\n{d.body}\n\n" for i, d in enumerate(docs, 1))


def answer_prompt(question: str, docs: list[Hit]) -> str:
    return (
        "Use the documents to answer the question with a short answer (a few words), nothing else.\n\n"
        f"{render_context(docs)}Question: {question}\nAnswer:"
    )


def get_answerer(spec: dict[str, Any] | str) -> Answerer:
    """The answerer a spec names (``"world_reader"`` or ``{"name": "hf", "path": ...}``), built once."""
    return build_once(ANSWERERS, spec, _CACHE)


_BORN = re.compile(r"(\w+ \w+) was born in (\w+)\.")
_LIES = re.compile(r"(\w+) lies in (\w+)\.")


@ANSWERERS.register("world_reader")
def world_reader() -> Answerer:
    """Answers the synthetic world's three question shapes from the facts in the docs; "unknown" else."""

    def answer(question: str, docs: list[Hit]) -> str:
        text = " ".join(d.body for d in docs)
        born = dict(_BORN.findall(text))
        lies = dict(_LIES.findall(text))
        if m := re.match(r"Where was (\w+ \w+) born\?", question):
            return born.get(m.group(1), "unknown")
        if m := re.match(r"Which nation is (\w+) part of\?", question):
            return lies.get(m.group(1), "unknown")
        if m := re.match(r"Which nation contains the hometown of (\w+ \w+)\?", question):
            return lies.get(born.get(m.group(1), ""), "unknown")
        return "unknown"

    return answer


@ANSWERERS.register("hf")
def hf_answerer(path: str, max_new_tokens: int = 32, device: str = "cpu") -> Answerer:
    """Greedy answers from a transformers causal LM (chat template when the tokenizer has one)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(path)
    model: Any = AutoModelForCausalLM.from_pretrained(path)
    model = model.to(device).eval()

    def answer(question: str, docs: list[Hit]) -> str:
        prompt: Any = answer_prompt(question, docs)
        if tokenizer.chat_template:
            prompt = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        ids = tokenizer(prompt, return_tensors="pt").to(device)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
        return str(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)).strip()

    return answer


@ANSWERERS.register("openai")
def openai_answerer(
    base_url: str,
    model: str,
    api_key_env: str = "OPENAI_API_KEY",
    max_tokens: int = 64,
    timeout_s: float = 60.0,
) -> Answerer:
    """Greedy answers from an OpenAI-compatible ``/chat/completions`` endpoint (vLLM, SGLang, hosted)."""
    chat = openai_chat(base_url, model, api_key_env, max_tokens, timeout_s)

    def answer(question: str, docs: list[Hit]) -> str:
        return chat([[{"role": "user", "content": answer_prompt(question, docs)}]])[0].strip()

    return answer


def llm_judge(answerer: Answerer) -> Callable[[str, str, list[str]], bool]:
    """A judge (``rlvr.envs.s3.accuracy.Judge``) that asks ``answerer`` whether a prediction is right."""

    def judge(question: str, prediction: str, answers: list[str]) -> bool:
        ask = (
            f"Question: {question}\nGold answers: {answers}\nPrediction: {prediction}\n"
            "Is the prediction correct? Answer yes or no."
        )
        return answerer(ask, []).strip().lower().startswith("yes")

    return judge
