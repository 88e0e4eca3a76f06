"""Scoring a batch of completions of Samples through the router."""

from __future__ import annotations

from collections.abc import Sequence

from rlvr.data.sample import Sample
from rlvr.rewards.router import Scorer, ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.types import Completion


def score_requests(
    samples: Sequence[Sample], completions: Sequence[Completion], key_prefix: str = ""
) -> list[ScoreRequest]:
    """One request per completion; ``samples[c.prompt_index]`` is the sample it completes.

    ``sample_key`` (which seeds per-sample randomness such as the ``random`` reward) is
    ``<key_prefix><sample id>#<completion index>``; the trainer prefixes the step, so that a prompt seen
    again in a later epoch draws afresh.
    """
    requests = []
    for c in completions:
        sample = samples[c.prompt_index]
        requests.append(
            ScoreRequest(
                completion=c.text,
                spec=sample.reward,
                sample_key=f"{key_prefix}{sample.id}#{c.sample_index}",
                completion_tokens=len(c.token_ids),
                data_source=sample.data_source,
            )
        )
    return requests


def score_completions(
    router: Scorer, samples: Sequence[Sample], completions: Sequence[Completion]
) -> tuple[list[ScoreRequest], list[RewardResult]]:
    requests = score_requests(samples, completions)
    return requests, router.score(requests)
