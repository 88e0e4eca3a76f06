"""The trace-summarisation check: is what a trace does to the answer carried by its content?

Each trace's thinking part (up to ``--think-end``, else the whole trace) is summarised by a second model;
the policy then answers greedily from (a) its full thinking, (b) the summary in its place, (c) nothing,
each followed by ``think_end`` and the answer prompt; every answer is scored by the problem's verifier.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rlvr.data.sample import Sample
from rlvr.eval.analysis.confidence import DEFAULT_ANSWER_PROMPT
from rlvr.eval.analysis.traces import Trace
from rlvr.rollout.types import Completion, SamplingParams

SUMMARY_REQUEST = (
    "Summarise the following reasoning in a few sentences, keeping every intermediate result it reaches:\n\n"
    "{thinking}"
)


def split_thinking(text: str, think_end: str) -> str:
    """The thinking part of a completion: up to ``think_end`` if it occurs, else all of it."""
    return text.split(think_end, 1)[0] if think_end and think_end in text else text


def summary_prompts(tokenizer, thinking: Sequence[str]) -> list[list[int]]:
    """Token ids asking ``tokenizer``'s model to summarise each thinking text (its chat template if any)."""
    out = []
    for text in thinking:
        request = SUMMARY_REQUEST.format(thinking=text)
        if getattr(tokenizer, "chat_template", None):
            rendered = tokenizer.apply_chat_template(
                [{"role": "user", "content": request}], tokenize=False, add_generation_prompt=True
            )
        else:
            rendered = request + "\n\nSummary:"
        out.append(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    return out


def answer_accuracy(
    engine,
    traces: Sequence[Trace],
    middles: Sequence[str],
    samples: Sequence[Sample],
    router,
    cues: Sequence[str],
    max_tokens: int,
) -> float:
    """Accuracy of greedy answers after prompt + middle + cue (one a trace), scored by each problem's verifier."""
    from rlvr.rewards.completions import score_completions

    tok = engine.tokenizer
    index = {s.id: i for i, s in enumerate(samples)}
    ids = [
        t.prompt_ids + tok(m + cue, add_special_tokens=False)["input_ids"]
        for t, m, cue in zip(traces, middles, cues, strict=True)
    ]
    outs = engine.generate(ids, SamplingParams(n=1, temperature=0.0, max_new_tokens=max_tokens))
    scored = [
        Completion(index[t.sample_id], o.token_ids, o.logprobs, m + cue + o.text, o.finish_reason)
        for t, m, cue, o in zip(traces, middles, cues, outs, strict=True)
    ]
    _, results = score_completions(router, samples, scored)
    return sum(bool(r.correct) and r.error is None for r in results) / max(1, len(results))


def summarise_check(cfg, args: argparse.Namespace, worker, traces, samples, router) -> dict[str, Any]:
    from rlvr.training.roles import RolloutRole

    tok = worker.tokenizer
    thinking = [split_thinking(tok.decode(t.response_ids), args.think_end) for t in traces]
    scfg = cfg.model_copy(
        update={"model": cfg.model.model_copy(update={"path": args.summariser, "tiny": None})}
    )
    summariser = RolloutRole(scfg)
    try:
        params = SamplingParams(n=1, temperature=0.0, max_new_tokens=args.summary_tokens)
        summaries = [
            c.text
            for c in summariser.engine.generate(summary_prompts(summariser.tokenizer, thinking), params)
        ]
    finally:
        summariser.close()
    cues = [args.think_end + (t.answer_prompt or args.answer_prompt or DEFAULT_ANSWER_PROMPT) for t in traces]
    accs = {
        name: answer_accuracy(worker.engine, traces, middles, samples, router, cues, 32)
        for name, middles in (
            ("full_thinking", thinking),
            ("summary", summaries),
            ("no_thinking", [""] * len(traces)),
        )
    }
    return {
        "summary": {
            "traces": len(traces),
            "trace_accuracy": sum(t.correct for t in traces) / max(1, len(traces)),
            **accs,
        },
        "examples": [
            {"thinking": th[:2000], "summary": s} for th, s in zip(thinking[:8], summaries[:8], strict=False)
        ],
    }
