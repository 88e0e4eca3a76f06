"""Offline RL: logged rollouts served as the trainer's batches.

The row format, and how a file is read and checked, are in :mod:`rlvr.data.logged`; this module turns the
checked groups into the :class:`~rlvr.training.collect.RolloutBatch` the loop trains on (completions as
the rollout engine would return them, requests and results as the reward router would), so offline
training runs the same advantages, filters and losses as online training.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Sequence
from functools import partial
from typing import Any

from rlvr.data.logged import LoggedCompletion, LoggedGroup, read_groups
from rlvr.data.sample import RewardSpec
from rlvr.data.sampler import PromptSampler
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.prompts import render_prompt
from rlvr.rollout.types import Completion
from rlvr.training.collect import RolloutBatch


def _copy(values: list[float] | None) -> list[float]:
    """A copy of the log-probs; None passes through for rows logged without them (require_logprobs=False),
    which ``Completion.logprobs`` does not type yet."""
    return values if values is None else list(values)  # type: ignore[return-value]


def logged_result(c: LoggedCompletion) -> RewardResult:
    """A row's reward as a verifier result; ``info`` has the row number, id and metadata."""
    r = c.row
    info: dict[str, Any] = {"row": c.row_num, "id": c.id}
    info |= {k: v for k, v in (("step", r.step), ("policy_version", r.policy_version)) if v is not None}
    if r.metadata is not None:
        info["metadata"] = dict(r.metadata)
    return RewardResult(0.0 if r.reward is None else r.reward, correct=r.correct, info=info, error=r.error)


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
                batch.results.append(logged_result(c))
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
    groups = read_groups(path, tokenizer, partial(render_prompt, tokenizer), require_logprobs)
    return LoggedDataset(groups, str(path), seed=seed, shuffle=shuffle)
