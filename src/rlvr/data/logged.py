"""Logged rollouts: the row format for offline RL, its loader, and the writer an online run uses.

A logged file (JSONL, one object per line, or Parquet, one row per row) holds scored completions, one a
row. Rows that complete the same prompt form a GRPO group. Offline training draws whole groups and trains
on them with the same advantages and losses as online training, correcting for the policy that sampled
them (the *behaviour* policy) with a token-level truncated importance ratio pi_theta / pi_behaviour.

One row::

    {"id": "12/3#0", "group": "12/3", "sample_id": "gsm8k-17", "data_source": "gsm8k", "verifier": "math",
     "prompt": "What is 6 * 7?", "prompt_ids": [1532, 374, 220, 21],
     "completion": "42", "completion_ids": [2983, 2],
     "behaviour_logprobs": [-0.31, -0.02],
     "reward": 1.0, "correct": true, "finish_reason": "stop", "step": 12, "policy_version": 11}

Fields (``null`` counts as absent; any other field is an error, so a misspelt name is caught; put extra
data under ``metadata``):

- the prompt: ``prompt`` (text, sent as is) or ``messages`` (chat messages, rendered with the tokenizer's
  chat template), and/or ``prompt_ids`` (token ids, which win when given; text alone is tokenized).
  At least one is required; ``prompt`` and ``messages`` exclude each other.
- the completion: ``completion`` (text) and/or ``completion_ids``. Ids win when given; text alone is
  tokenized *without special tokens*, so if the logger's log-probs cover an end-of-sequence token that
  the text does not show, give ``completion_ids``. Text alone is also only safe where tokenizing the
  completion apart from the prompt gives the tokens that were sampled (true of most BPE tokenizers at a
  prompt/completion boundary, not guaranteed).
- ``behaviour_logprobs``: one log-probability per completion token, under the sampling distribution
  (temperature applied, before top-k / top-p truncation; see :class:`~rlvr.rollout.types.Completion`).
  **Required**: the importance ratio needs pi_behaviour(token), and the data cannot be trained on
  correctly without it. ``load_logged(..., require_logprobs=False)`` accepts rows without it; their
  completions then carry ``logprobs=None`` and the trainer treats them as on-policy.
- ``reward`` (number): the total reward, as the router returns it (weights applied). A row whose
  verification failed has ``"reward": null`` and ``"error": "<message>"``; it is loaded as an errored
  result (score 0.0, ``error`` set), which the trainer masks out of the loss and out of its group's
  statistics and counts in the metrics, exactly as it does online. Nothing is dropped.
- ``correct`` (true / false / null): whether the answer counts as right, for accuracy metrics. When absent
  it is None (unknown), never guessed from the reward: a partial-credit or format reward above 0 is no
  proof of a right answer. For 0/1 rewards, ``reward_mean`` already is the accuracy.
- ``group`` (string or integer): rows sharing it form one group, and must share one prompt. Without it,
  rows with the same prompt token ids form a group (so a prompt logged at two steps would make one group;
  :func:`write_logged` writes ``group = "<step>/<prompt index>"`` for that reason). Groups keep the order
  of their first rows; within a group rows keep file order, which gives ``sample_index``.
- optional: ``id`` (string or integer, unique; default ``<file stem>-<row>``), ``sample_id`` (the prompt's
  Sample id; default the group id, or ``<file stem>-<first row>`` for prompt groups), ``data_source``
  (default ``"logged"``), ``verifier`` (a name for per-verifier metrics; default ``"logged"``; nothing is
  re-scored), ``finish_reason`` (``"stop"`` or ``"length"``, default ``"stop"``), ``step`` and
  ``policy_version`` (integers, kept in each result's ``info``), ``metadata`` (an object, kept in
  ``info["metadata"]``).

Bad input raises :class:`~rlvr.data.errors.DataFormatError` listing every bad row (up to
``MAX_REPORTED_ERRORS`` problems, then a count), each as ``<file> row <n>: field '<name>' ...``; rows
number from 1 and, in JSONL, are line numbers. A file with a bad row loads nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Sequence
from typing import Any

from rlvr.data.logged_rows import (  # noqa: F401 - re-exported: the format's public names
    LOGPROB_TOLERANCE,
    MAX_REPORTED_ERRORS,
    LoggedCompletion,
    LoggedGroup,
    LoggedRow,
    read_groups,
)
from rlvr.data.sample import RewardSpec
from rlvr.data.sampler import PromptSampler
from rlvr.rewards.router import ScoreRequest
from rlvr.rollout.types import Completion
from rlvr.training.collect import RolloutBatch


def _copy(values: list[float] | None) -> list[float]:
    """A copy of the log-probs; None passes through for rows logged without them (require_logprobs=False),
    which ``Completion.logprobs`` does not type yet."""
    return values if values is None else list(values)  # type: ignore[return-value]


class LoggedDataset:
    """Groups of logged completions, served ``num_groups`` at a time as a :class:`RolloutBatch`.

    Epoch ``e`` visits every group once, in the order ``random.Random(seed + e)`` shuffles them (file
    order with ``shuffle=False``); a batch may span two epochs, so no group is ever skipped. The
    position is ``state_dict()``, which a checkpoint stores; ``fingerprint()`` identifies the content.
    """

    def __init__(
        self, groups: Sequence[LoggedGroup], source: str = "<memory>", seed: int = 0, shuffle: bool = True
    ) -> None:
        if not groups:
            raise ValueError(f"{source}: no groups of logged completions")
        self.groups = list(groups)
        self.source = source
        self.sampler = PromptSampler(len(self.groups), batch_size=1, seed=seed, shuffle=shuffle)
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def num_completions(self) -> int:
        return sum(len(g.completions) for g in self.groups)

    @property
    def has_logprobs(self) -> bool:
        """Whether every completion has behaviour log-probs (always so unless require_logprobs=False)."""
        return all(c.row.behaviour_logprobs is not None for g in self.groups for c in g.completions)

    @property
    def epoch(self) -> int:
        """The epoch of the next group served (from 0)."""
        return self.sampler.epoch

    def next_batch(self, num_groups: int) -> RolloutBatch:
        """The next ``num_groups`` groups: ``samples[p]`` is group p's prompt and every completion of it
        has ``prompt_index == p``; requests and results line up with completions. Fresh objects each
        call, so the caller may change them."""
        if num_groups < 1:
            raise ValueError(f"num_groups must be >= 1, got {num_groups}")
        epoch = self.sampler.epoch
        batch = RolloutBatch()
        for p in range(num_groups):
            group = self.groups[self.sampler.next_batch()[0]]
            batch.samples.append(group.sample)
            for j, c in enumerate(group.completions):
                batch.completions.append(
                    Completion(
                        prompt_index=p,
                        token_ids=list(c.completion_ids),
                        logprobs=_copy(c.row.behaviour_logprobs),  # None: on-policy (see has_logprobs)
                        text=c.completion,
                        finish_reason=c.row.finish_reason or "stop",
                        prompt_ids=list(c.prompt_ids),
                        sample_index=j,
                    )
                )
                batch.requests.append(
                    ScoreRequest(
                        completion=c.completion,
                        spec=RewardSpec(verifier=c.verifier),
                        sample_key=f"{group.sample.id}#{j}",
                        completion_tokens=len(c.completion_ids),
                        data_source=c.data_source,
                    )
                )
                batch.results.append(c.result())
        batch.stats = {
            "rollout/logged_groups": float(num_groups),
            "rollout/logged_completions": float(len(batch.completions)),
            "rollout/logged_errored": float(sum(r.error is not None for r in batch.results)),
            "rollout/logged_without_logprobs": float(sum(c.logprobs is None for c in batch.completions)),
            "rollout/logged_epoch": float(epoch),
        }
        return batch

    def fingerprint(self) -> str:
        """sha256 over what training reads, group by group in file order: prompt ids, completion ids,
        behaviour log-probs, rewards, errors, finish reasons. Equal for the same rows in JSONL or Parquet."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for g in self.groups:
                h.update(b"group" + array("q", g.completions[0].prompt_ids).tobytes())
                for c in g.completions:
                    r, lp = c.row, c.row.behaviour_logprobs
                    head = [len(c.completion_ids), lp is None, r.reward, r.error, r.finish_reason or "stop"]
                    h.update(json.dumps(head).encode() + array("q", c.completion_ids).tobytes())
                    h.update(array("d", lp or []).tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def state_dict(self) -> dict[str, Any]:
        """The position of the next group: ``{"epoch", "index", "seed", "num_groups", "fingerprint"}``."""
        return {**self.sampler.state_dict(), "num_groups": len(self), "fingerprint": self.fingerprint()}

    def load_state_dict(self, state: dict[str, Any], check_fingerprint: bool = True) -> None:
        """Continue from a saved position. A state saved over other content is an error unless
        ``check_fingerprint=False`` (the trainer's --force-resume)."""
        saved = state.get("fingerprint")
        if check_fingerprint and saved is not None and saved != self.fingerprint():
            raise ValueError(
                f"{self.source}: the saved position is for other logged data (fingerprint {saved[:12]}, "
                f"this file {self.fingerprint()[:12]}); load the same file or skip the check"
            )
        self.sampler.load_state_dict(state)


def load_logged(
    path: str | os.PathLike[str],
    tokenizer,
    require_logprobs: bool = True,
    seed: int = 0,
    shuffle: bool = True,
) -> LoggedDataset:
    """Logged rollouts from a JSONL or Parquet file (see the module doc for the format).

    Rows that give only text are tokenized with ``tokenizer`` (prompts as online, through the chat template
    for ``messages``; completions without special tokens). Every bad row is reported in one
    :class:`DataFormatError`; an empty file is an error too.
    """
    groups = read_groups(path, tokenizer, require_logprobs)
    return LoggedDataset(groups, str(path), seed=seed, shuffle=shuffle)
