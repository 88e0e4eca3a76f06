"""Forced truncation (RaML's "non-thinking" cut): keep the first x of each trace, append the answer prompt,
let the model write the answer greedily, score it with the problem's own verifier; accuracy against x.

At x = 0 the model answers from the prompt alone; at x = 1 it answers after its whole trace (which for
a trained model usually already holds the answer: the appended answer prompt asks for it again).
"""

from __future__ import annotations

from collections.abc import Sequence

from rlvr.data.sample import Sample
from rlvr.eval.analysis.confidence import DEFAULT_ANSWER_PROMPT, boundary_points
from rlvr.eval.analysis.traces import Trace
from rlvr.rollout.types import Completion, SamplingParams

DEFAULT_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def cut_prompts(
    tokenizer,
    traces: Sequence[Trace],
    fractions: Sequence[float],
    answer_prompt: str | None = None,
    at: str | None = None,
) -> tuple[list[list[int]], list[str]]:
    """For each (trace, x), trace-major: the ids the model continues (prompt + the first round(x * R)
    trace tokens + the answer prompt) and the text of the kept trace plus the answer prompt. With ``at``
    (see :func:`boundary_points`) the cut moves back to the last boundary at or before x * R."""
    ids, texts = [], []
    for t in traces:
        prompt = t.answer_prompt or answer_prompt or DEFAULT_ANSWER_PROMPT
        cue = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        bounds = None
        if at is not None:
            bounds = [0, *boundary_points([tokenizer.decode([i]) for i in t.response_ids], at)]
        for x in fractions:
            if not 0 <= x <= 1:
                raise ValueError(f"truncation fractions must lie in [0, 1], got {x}")
            cut = round(x * len(t.response_ids))
            if bounds is not None:
                cut = max(b for b in bounds if b <= cut)
            kept = t.response_ids[:cut]
            ids.append(t.prompt_ids + kept + cue)
            texts.append(tokenizer.decode(kept) + prompt)
    return ids, texts


def truncation_accuracy(
    engine,
    traces: Sequence[Trace],
    samples: Sequence[Sample],
    router,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    answer_prompt: str | None = None,
    max_new_tokens: int = 32,
    stop: Sequence[str] = (),
    at: str | None = None,
) -> dict:
    """Accuracy at each cut over all traces (and over the traces that were correct uncut)."""
    from rlvr.rewards.completions import score_completions

    index = {s.id: i for i, s in enumerate(samples)}
    ids, texts = cut_prompts(engine.tokenizer, traces, fractions, answer_prompt, at)
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, stop=list(stop))
    answers = engine.generate(ids, params)
    scored = [
        Completion(
            index[traces[i // len(fractions)].sample_id],
            a.token_ids,
            a.logprobs,
            texts[i] + a.text,
            a.finish_reason,
        )
        for i, a in enumerate(answers)
    ]
    _, results = score_completions(router, samples, scored)
    ok = [bool(r.correct) and r.error is None for r in results]
    acc, acc_correct = [], []
    for k in range(len(fractions)):
        col = ok[k :: len(fractions)]
        acc.append(sum(col) / len(col))
        kept = [c for c, t in zip(col, traces, strict=True) if t.correct]
        acc_correct.append(sum(kept) / len(kept) if kept else None)
    return {
        "fractions": list(fractions),
        "accuracy": acc,
        "accuracy_of_correct_traces": acc_correct,
        "traces": len(traces),
        "trace_accuracy": sum(t.correct for t in traces) / max(1, len(traces)),
    }
