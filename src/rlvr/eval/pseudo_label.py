"""Pseudo-labels from the starting model, for the Spurious Rewards controls (arXiv 2506.10947).

``majority``: each question's label is the most frequent answer among k samples of the start model
(the paper uses k = 64). ``incorrect``: keep only the questions whose majority answer is wrong and reward
that wrong answer. Both keep the true answer in ``metadata["gold"]`` and score with a ``combined`` spec
whose weight-0 component checks the truth, so accuracy is still logged honestly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from rlvr.data.sample import RewardSpec, Sample
from rlvr.rewards.completions import score_completions
from rlvr.rewards.router import Scorer
from rlvr.rollout.engine import CompletionSampler
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams


def majority_answers(
    engine: CompletionSampler, samples: Sequence[Sample], router: Scorer, params: SamplingParams
) -> list[tuple[str | None, bool, float]]:
    """Per sample: (majority answer, whether it is correct, its share of the k votes).

    Answers are what each sample's own verifier extracted (``info["extracted"]``); samples whose
    verifier extracts nothing get (None, False, 0.0).
    """
    completions = engine.generate(encode_prompts(engine.tokenizer, list(samples)), params)
    _, results = score_completions(router, samples, completions)
    votes: dict[int, Counter] = defaultdict(Counter)
    right: dict[tuple[int, str], bool] = {}
    for c, r in zip(completions, results, strict=True):
        answer = r.info.get("extracted")
        if answer is not None and r.error is None:
            votes[c.prompt_index][answer] += 1
            right[(c.prompt_index, answer)] = bool(r.correct)
    out: list[tuple[str | None, bool, float]] = []
    for i in range(len(samples)):
        if not votes[i]:
            out.append((None, False, 0.0))
            continue
        answer, count = votes[i].most_common(1)[0]
        out.append((answer, right[(i, answer)], count / params.n))
    return out


def relabel(
    samples: Sequence[Sample],
    majority: Sequence[tuple[str | None, bool, float]],
    mode: Literal["majority", "incorrect"],
) -> list[Sample]:
    """Samples rewarded against their majority answer; ``incorrect`` keeps only wrong majorities."""
    out = []
    for s, (answer, correct, share) in zip(samples, majority, strict=True):
        if answer is None or (mode == "incorrect" and correct):
            continue
        spec = RewardSpec(
            verifier="combined",
            ground_truth=answer,
            params={
                # The first component with a notion of correctness supplies `correct`: the truth, at weight 0.
                "components": [
                    {
                        "verifier": s.reward.verifier,
                        "weight": 0.0,
                        "params": s.reward.params,
                        "ground_truth": s.reward.ground_truth,
                    },
                    {"verifier": s.reward.verifier, "weight": 1.0, "params": s.reward.params},
                ]
            },
        )
        meta = {**s.metadata, "gold": s.reward.ground_truth, "pseudo_label": answer, "label_share": share}
        out.append(replace(s, reward=spec, metadata=meta))
    return out


def pseudo_label_main(cfg, k: int, mode: Literal["majority", "incorrect"], output: str) -> None:
    """``rlvr pseudo-label``: label data.train with the recipe's model and write the kept samples."""
    from rlvr.data import load_dataset_specs, save_jsonl
    from rlvr.models.load import load_model, load_tokenizer
    from rlvr.rewards.factory import router_for
    from rlvr.rollout.hf_engine import HFEngine

    samples = load_dataset_specs(cfg.data.train)
    tokenizer = load_tokenizer(cfg.model)
    engine = HFEngine(
        load_model(cfg.model, tokenizer),
        tokenizer,
        cfg.rollout.max_batch_size,
        seed=cfg.trainer.seed,
        fast_decoder=cfg.rollout.fast_decoder,
        cuda_graphs=cfg.rollout.cuda_graphs,
    )
    params = cfg.rollout.sampling_params(n=k)
    router = router_for(cfg.reward)  # as training scores: in-process, a process pool or reward.server_url
    try:
        majority = majority_answers(engine, samples, router, params)
    finally:
        router.close()
    kept = relabel(samples, majority, mode)
    save_jsonl(kept, output)
    right = sum(c for a, c, _ in majority if a is not None)
    print(
        f"rlvr pseudo-label: {len(samples)} questions, majority answer correct for {right}; "
        f"kept {len(kept)} ({mode}) -> {output}"
    )
