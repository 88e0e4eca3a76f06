"""Scoring a batch of completions of Samples through the router."""

from __future__ import annotations

from collections.abc import Sequence

from rlvr.data.sample import Sample
from rlvr.rewards.router import RewardRouter, ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import Completion


def score_requests(samples: Sequence[Sample], completions: Sequence[Completion]) -> list[ScoreRequest]:
    """One request per completion; ``samples[c.prompt_index]`` is the sample it completes."""
    seen: dict[int, int] = {}
    requests = []
    for c in completions:
        sample = samples[c.prompt_index]
        k = seen.get(c.prompt_index, 0)
        seen[c.prompt_index] = k + 1
        requests.append(
            ScoreRequest(
                completion=c.text,
                spec=sample.reward,
                sample_key=f"{sample.id}#{k}",
                completion_tokens=len(c.token_ids),
                data_source=sample.data_source,
            )
        )
    return requests


def score_completions(
    router: RewardRouter, samples: Sequence[Sample], completions: Sequence[Completion]
) -> tuple[list[ScoreRequest], list[RewardResult]]:
    requests = score_requests(samples, completions)
    return requests, router.score(requests)
