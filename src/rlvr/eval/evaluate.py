"""Evaluate a policy on held-out Samples: accuracy (avg@n), pass@k and maj@n per data_source."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rlvr.data.sample import Sample
from rlvr.eval.passk import majority_correct, pass_at_k
from rlvr.rewards.completions import score_completions
from rlvr.rewards.router import Scorer
from rlvr.rollout.engine import CompletionSampler
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams


def evaluate(
    engine: CompletionSampler,
    samples: Sequence[Sample],
    router: Scorer,
    params: SamplingParams,
    ks: Sequence[int] = (1,),
    prefix: str = "eval",
) -> dict[str, float]:
    """Metrics ``{prefix}/{source}/accuracy``, ``pass@k``, ``maj@n``, ``response_length`` and over ``all``.

    accuracy is the mean correctness over all n samples of every problem (avg@n; with greedy decoding
    and n = 1 it is plain accuracy). An errored verification counts as not correct, and is counted.
    """
    bad_k = [k for k in ks if k > params.n]
    if bad_k:
        raise ValueError(f"pass@k needs k <= n samples per problem; got k={bad_k} with n={params.n}")
    completions = engine.generate(encode_prompts(engine.tokenizer, list(samples)), params)
    _, results = score_completions(router, samples, completions)
    per_problem: dict[int, list[tuple[bool, str | None, int, bool]]] = defaultdict(list)
    for c, r in zip(completions, results, strict=True):
        answer = r.info.get("extracted")
        per_problem[c.prompt_index].append((bool(r.correct), answer, len(c.token_ids), r.error is not None))

    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        groups[s.data_source].append(i)
        groups["all"].append(i)
    metrics: dict[str, float] = {}
    for source, idx in groups.items():
        key = f"{prefix}/{source}"
        flat = [x for i in idx for x in per_problem[i]]
        metrics[f"{key}/accuracy"] = sum(x[0] for x in flat) / len(flat)
        metrics[f"{key}/response_length"] = sum(x[2] for x in flat) / len(flat)
        metrics[f"{key}/errors"] = float(sum(x[3] for x in flat))
        metrics[f"{key}/problems"] = float(len(idx))
        for k in ks:
            metrics[f"{key}/pass@{k}"] = sum(
                pass_at_k(len(per_problem[i]), sum(x[0] for x in per_problem[i]), k) for i in idx
            ) / len(idx)
        if params.n > 1:
            metrics[f"{key}/maj@{params.n}"] = sum(
                majority_correct([x[1] for x in per_problem[i]], [x[0] for x in per_problem[i]]) for i in idx
            ) / len(idx)
    return metrics
