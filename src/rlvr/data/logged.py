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

import difflib
import hashlib
import json
import math
import os
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from rlvr.data.errors import DataFormatError, row_error
from rlvr.data.loaders import iter_jsonl, iter_parquet
from rlvr.data.rows import _check_messages
from rlvr.data.sample import RewardSpec, Sample
from rlvr.data.sampler import PromptSampler
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.types import RewardResult
from rlvr.rollout.prompts import render_prompt
from rlvr.rollout.types import Completion
from rlvr.training.collect import RolloutBatch

MAX_REPORTED_ERRORS = 20
"""Problems listed in one DataFormatError; the rest are counted."""
LOGPROB_TOLERANCE = 1e-4
"""A log-probability above this is an error (rounding may leave a certain token's a hair above 0)."""


class LoggedRow(BaseModel):
    """One row as written in the file, before tokenization (see the module doc for the rules)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    prompt: str | None = None
    """The prompt text, sent to the model as is."""
    messages: list[dict[str, Any]] | None = None
    """The prompt as chat messages ``{"role", "content"}``, rendered with the chat template."""
    prompt_ids: list[int] | None = None
    """The prompt's token ids; win over the text when both are given."""
    completion: str | None = None
    """The completion text."""
    completion_ids: list[int] | None = None
    """The completion's token ids; win over the text when both are given."""
    behaviour_logprobs: list[float] | None = None
    """pi_behaviour of each completion token, one per token (required unless require_logprobs=False)."""
    reward: float | None = None
    """The total reward; null only with ``error``."""
    correct: bool | None = None
    """Whether the answer is right (accuracy metrics); null or absent: unknown."""
    error: str | None = None
    """Why verification failed; the row is kept as an errored result."""
    group: str | int | None = None
    """Rows sharing it form one group; default: rows with the same prompt."""
    id: str | int | None = None
    """Unique row id; default ``<file stem>-<row>``."""
    sample_id: str | int | None = None
    """Id of the prompt's Sample."""
    data_source: str | None = None
    """Metrics are grouped by it; default ``logged``."""
    verifier: str | None = None
    """Verifier name for per-verifier metrics; default ``logged``."""
    finish_reason: Literal["stop", "length"] | None = None
    """``stop`` (end of sequence or a stop string) or ``length`` (truncated); default ``stop``."""
    step: int | None = None
    """Training step that produced the row (metadata)."""
    policy_version: int | None = None
    """Version of the policy that sampled the row (metadata)."""
    metadata: dict[str, Any] | None = None
    """Anything else; kept in the result's ``info["metadata"]``."""


FIELDS = tuple(LoggedRow.model_fields)
_EXPECTED = (  # what each field must hold, for error messages
    dict.fromkeys(("prompt", "completion", "error", "data_source", "verifier"), "a string")
    | dict.fromkeys(("prompt_ids", "completion_ids"), "a list of integer token ids")
    | dict.fromkeys(("group", "id", "sample_id"), "a string or an integer")
    | dict.fromkeys(("step", "policy_version"), "an integer")
    | {
        "messages": "a list of chat messages {role, content}",
        "behaviour_logprobs": "a list of numbers, one log-probability per completion token",
        "reward": "a number",
        "correct": "true, false or null",
        "finish_reason": "'stop' or 'length'",
        "metadata": "an object",
    }
)


@dataclass(frozen=True)
class LoggedCompletion:
    """One checked row with both its text and its token ids. ``prompt`` is the text prompt (decoded from
    the ids when the row gave only ids), None when the row's prompt is ``messages``."""

    row_num: int
    row: LoggedRow
    prompt: str | None
    prompt_ids: list[int]
    completion: str
    completion_ids: list[int]
    id: str

    @property
    def data_source(self) -> str:
        return "logged" if self.row.data_source is None else self.row.data_source

    @property
    def verifier(self) -> str:
        return "logged" if self.row.verifier is None else self.row.verifier

    def result(self) -> RewardResult:
        """The row's reward as a verifier result; ``info`` has the row number, id and metadata."""
        r = self.row
        info: dict[str, Any] = {"row": self.row_num, "id": self.id}
        info |= {k: v for k, v in (("step", r.step), ("policy_version", r.policy_version)) if v is not None}
        if r.metadata is not None:
            info["metadata"] = dict(r.metadata)
        return RewardResult(
            0.0 if r.reward is None else r.reward, correct=r.correct, info=info, error=r.error
        )


@dataclass
class LoggedGroup:
    """The rows that complete one prompt, and the Sample that stands for that prompt."""

    sample: Sample
    completions: list[LoggedCompletion]


# --------------------------------------------------------------------------------------------------
# reading and checking rows


class _Report:
    """Every problem found; the first ``MAX_REPORTED_ERRORS`` are kept verbatim, the rest counted."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.messages: list[tuple[int, str]] = []
        self.bad_rows: set[int] = set()
        self.shown_rows: set[int] = set()
        self.total = 0

    def add(self, row: int, message: str) -> None:
        self.bad_rows.add(row)
        self.total += 1
        if len(self.messages) < MAX_REPORTED_ERRORS:
            self.messages.append((row, message))
            self.shown_rows.add(row)

    def raise_if_any(self, num_rows: int) -> None:
        if not self.bad_rows:
            return
        hidden = self.total - len(self.messages)
        tail = (
            f"\n  ... and {hidden} more problems ({len(self.bad_rows - self.shown_rows)} more bad rows)"
            if hidden
            else ""
        )
        raise DataFormatError(
            f"{self.source}: {len(self.bad_rows)} of {num_rows} rows are bad, so nothing was loaded:\n  "
            + "\n  ".join(m for _, m in sorted(self.messages, key=lambda rm: rm[0]))
            + tail
        )


def _read(path: Path) -> tuple[Iterator[tuple[int, Any]], bool]:
    """``(row number, value or DataFormatError)`` pairs, and whether they come from Arrow."""
    if path.suffix == ".parquet":
        return iter_parquet(path), True
    if path.suffix in (".jsonl", ".json"):
        return iter_jsonl(path, strict=False), False
    raise DataFormatError(f"{path}: expected a .jsonl or .parquet file of logged rollouts")


def _drop_arrow_nulls(row: dict[str, Any]) -> dict[str, Any]:
    """Undo Arrow's struct unification: a key that only other rows' messages / metadata have comes
    back as None in this row's; drop such None values."""
    row = dict(row)
    if isinstance(row.get("messages"), list):
        row["messages"] = [
            {k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m
            for m in row["messages"]
        ]
    if isinstance(row.get("metadata"), dict):
        row["metadata"] = {k: v for k, v in row["metadata"].items() if v is not None}
    return row


def _field_errors(exc: ValidationError) -> list[str]:
    """One message per bad field: what it must be, what it is."""
    out, seen = [], set()
    for err in exc.errors():
        name = str(err["loc"][0])
        if name in seen:
            continue
        seen.add(name)
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            out.append(
                f"field '{name}' is not a logged-row field{hint}; expected {', '.join(FIELDS)} "
                "(put extra data under 'metadata')"
            )
            continue
        item = next((f" item {i}" for i in err["loc"][1:] if isinstance(i, int)), "")
        got = err["input"]
        out.append(f"field '{name}'{item}: expected {_EXPECTED[name]}, got {type(got).__name__} {got!r:.60}")
    return out


def _first_bad_logprob(values: list[float]) -> int | None:
    """Index of the first value that is not finite or is above LOGPROB_TOLERANCE; None if there is none."""
    if math.isfinite(sum(values)) and max(values) <= LOGPROB_TOLERANCE:  # a nan or inf makes the sum one
        return None
    ok = (math.isfinite(x) and x <= LOGPROB_TOLERANCE for x in values)
    return next((i for i, good in enumerate(ok) if not good), None)


def _row_rules(row: LoggedRow, require_logprobs: bool) -> list[str]:
    """The rules that span fields or look inside values."""
    out = []
    if row.prompt is not None and row.messages is not None:
        out.append("fields 'prompt' and 'messages' both set; expected only one")
    if row.prompt is None and row.messages is None and row.prompt_ids is None:
        out.append("field 'prompt' missing; expected one of 'prompt', 'messages' or 'prompt_ids'")
    if row.prompt_ids == []:
        out.append("field 'prompt_ids' is empty; expected at least one token id")
    if row.completion is None and row.completion_ids is None:
        out.append("field 'completion' missing; expected 'completion' (text) and/or 'completion_ids'")
    if row.behaviour_logprobs is None and require_logprobs:
        out.append(
            "field 'behaviour_logprobs' missing; expected one log-probability per completion token (the "
            "importance ratio pi_theta / pi_behaviour needs it; load with require_logprobs=False to "
            "treat rows without it as on-policy)"
        )
    if row.behaviour_logprobs:
        i = _first_bad_logprob(row.behaviour_logprobs)
        if i is not None:
            out.append(
                f"field 'behaviour_logprobs' item {i} is {row.behaviour_logprobs[i]}; expected a finite "
                "log-probability <= 0"
            )
    if row.reward is None and row.error is None:
        out.append(
            "field 'reward' missing; expected a number (or null with an 'error' string for a row whose "
            "verification failed)"
        )
    if row.reward is not None and not math.isfinite(row.reward):
        out.append(f"field 'reward' is {row.reward}; expected a finite number")
    return out


def _parse(value: Any, source: str, row_num: int, require_logprobs: bool, arrow: bool) -> tuple:
    """``(LoggedRow or None, problems)`` for one raw row."""
    if isinstance(value, DataFormatError):
        return None, [str(value)]
    if not isinstance(value, dict):
        return None, [
            str(row_error(source, row_num, f"expected an object (dict), got {type(value).__name__}"))
        ]
    if arrow:
        value = _drop_arrow_nulls(value)
    try:
        row = LoggedRow.model_validate(value)
    except ValidationError as exc:
        return None, [str(row_error(source, row_num, m)) for m in _field_errors(exc)]
    problems = [str(row_error(source, row_num, m)) for m in _row_rules(row, require_logprobs)]
    if row.messages is not None:
        try:
            _check_messages(row.messages, "messages", source, row_num)
        except DataFormatError as exc:
            problems.append(str(exc))
    return (None if problems else row), problems


# --------------------------------------------------------------------------------------------------
# tokenizing


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _prompt_ids(rows: list[tuple[int, LoggedRow]], tokenizer, source: str, report: _Report) -> dict:
    """Row number -> prompt token ids, for the rows that give only prompt text (rendered like online)."""
    texts, nums = [], []
    for n, row in rows:
        if row.prompt_ids is not None:
            continue
        try:
            texts.append(
                render_prompt(tokenizer, Sample(id=f"row {n}", prompt=row.prompt, messages=row.messages))
            )
            nums.append(n)
        except ValueError as exc:
            report.add(n, str(row_error(source, n, f"field 'messages': {exc}; or give 'prompt_ids'")))
    return dict(zip(nums, _encode(tokenizer, texts), strict=True))


def _check_ids(ids: list[int], name: str, vocab: int) -> str | None:
    if ids and (min(ids) < 0 or max(ids) >= vocab):
        i = next(i for i, t in enumerate(ids) if not 0 <= t < vocab)
        return (
            f"field '{name}' item {i} is token id {ids[i]}, outside the tokenizer's vocabulary of {vocab}; "
            "was the file logged with another tokenizer?"
        )
    return None


def _length_problems(row: LoggedRow, p_ids: list[int], c_ids: list[int], vocab: int) -> list[str]:
    """Token ids outside the vocabulary, an empty prompt, a log-prob count that is not the token count."""
    problems = [
        m
        for m in (_check_ids(p_ids, "prompt_ids", vocab), _check_ids(c_ids, "completion_ids", vocab))
        if m is not None
    ]
    if not p_ids:
        problems.append("field 'prompt' tokenizes to no tokens; expected at least one")
    lp = row.behaviour_logprobs
    if lp is not None and len(lp) != len(c_ids):
        if row.completion_ids is not None:
            what, hint = "field 'completion_ids' has", ""
        else:
            what = "field 'completion', tokenized without special tokens, has"
            hint = "; if the log-probs cover a token the text does not show (end of sequence), give 'completion_ids'"
        problems.append(
            f"field 'behaviour_logprobs' has length {len(lp)} but {what} {len(c_ids)} tokens; "
            f"expected one log-probability per completion token{hint}"
        )
    return problems


def _tokenize(
    rows: list[tuple[int, LoggedRow]], tokenizer, stem: str, source: str, report: _Report
) -> list[LoggedCompletion]:
    """Fill in whichever of text / ids each row lacks; check the ids and the log-prob count."""
    vocab = len(tokenizer)
    prompt_ids = _prompt_ids(rows, tokenizer, source, report)
    texts = {n: r.completion for n, r in rows if r.completion_ids is None}
    completion_ids = dict(zip(texts, _encode(tokenizer, list(texts.values())), strict=True))
    out = []
    for n, row in rows:
        if n in report.bad_rows:
            continue
        p_ids = row.prompt_ids if row.prompt_ids is not None else prompt_ids[n]
        c_ids = row.completion_ids if row.completion_ids is not None else completion_ids[n]
        problems = _length_problems(row, p_ids, c_ids, vocab)
        for m in problems:
            report.add(n, str(row_error(source, n, m)))
        if problems:
            continue
        prompt = row.prompt
        if prompt is None and row.messages is None:
            prompt = tokenizer.decode(p_ids)
        completion = row.completion
        if completion is None:
            completion = tokenizer.decode(c_ids, skip_special_tokens=True)
        row_id = f"{stem}-{n}" if row.id is None else str(row.id)
        out.append(LoggedCompletion(n, row, prompt, p_ids, completion, c_ids, row_id))
    return out


# --------------------------------------------------------------------------------------------------
# grouping


def _group(rows: list[LoggedCompletion], stem: str, source: str, report: _Report) -> list[LoggedGroup]:
    """Rows by ``group`` (or, without one, by prompt ids), in order of first appearance; unique ids."""
    members: dict[tuple, list[LoggedCompletion]] = {}
    first_id: dict[str, int] = {}
    for c in rows:
        if c.id in first_id:
            msg = f"field 'id': duplicate id {c.id!r}; row {first_id[c.id]} has the same id"
            report.add(c.row_num, str(row_error(source, c.row_num, msg)))
            continue
        first_id[c.id] = c.row_num
        group_id = c.row.group
        key = ("group", group_id) if group_id is not None else ("prompt", tuple(c.prompt_ids))
        group = members.setdefault(key, [])
        if group and group[0].prompt_ids != c.prompt_ids:
            msg = (
                f"field 'group' {group_id!r}: the prompt differs from that of row {group[0].row_num} in the "
                "same group; a group's rows must complete one prompt"
            )
            report.add(c.row_num, str(row_error(source, c.row_num, msg)))
            continue
        group.append(c)
    groups = []
    for (kind, value), cs in members.items():
        first = cs[0]
        default_id = str(value) if kind == "group" else f"{stem}-{first.row_num}"
        sample = Sample(
            id=default_id if first.row.sample_id is None else str(first.row.sample_id),
            prompt=first.prompt,
            messages=first.row.messages,
            data_source=first.data_source,
            reward=RewardSpec(verifier=first.verifier),
            metadata={"logged_group": default_id, "logged_rows": [c.row_num for c in cs]},
        )
        groups.append(LoggedGroup(sample, cs))
    return groups


# --------------------------------------------------------------------------------------------------
# the dataset


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
    p = Path(path)
    source, stem = str(path), p.stem
    report = _Report(source)
    rows: list[tuple[int, LoggedRow]] = []
    values, arrow = _read(p)
    num_rows = 0
    for row_num, value in values:
        num_rows += 1
        row, problems = _parse(value, source, row_num, require_logprobs, arrow)
        for m in problems:
            report.add(row_num, m)
        if row is not None:
            rows.append((row_num, row))
    if num_rows == 0:
        raise DataFormatError(
            f"{source}: no rows; expected one logged completion per row with a prompt, a completion, "
            "'behaviour_logprobs' and 'reward' (see rlvr.data.logged)"
        )
    groups = _group(_tokenize(rows, tokenizer, stem, source, report), stem, source, report)
    report.raise_if_any(num_rows)
    return LoggedDataset(groups, source, seed=seed, shuffle=shuffle)
