"""Reading logged rollouts: the row model, per-row checks, tokenization and grouping.

The format is documented in :mod:`rlvr.data.logged`; :mod:`rlvr.training.logged` serves the groups read
here as training batches.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from rlvr.data.errors import DataFormatError, row_error
from rlvr.data.loaders import iter_jsonl, iter_parquet
from rlvr.data.rows import _check_messages
from rlvr.data.sample import RewardSpec, Sample

MAX_REPORTED_ERRORS = 20
"""Problems listed in one DataFormatError; the rest are counted."""
LOGPROB_TOLERANCE = 1e-4
"""A log-probability above this is an error (rounding may leave a certain token's a hair above 0)."""

Render = Callable[[Sample], str]
"""A sample -> the prompt text the policy sees (chat template applied)."""


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


def _prompt_ids(
    rows: list[tuple[int, LoggedRow]], tokenizer, render: Render, source: str, report: _Report
) -> dict:
    """Row number -> prompt token ids, for the rows that give only prompt text (rendered like online)."""
    texts, nums = [], []
    for n, row in rows:
        if row.prompt_ids is not None:
            continue
        try:
            texts.append(render(Sample(id=f"row {n}", prompt=row.prompt, messages=row.messages)))
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
    rows: list[tuple[int, LoggedRow]], tokenizer, render: Render, stem: str, source: str, report: _Report
) -> list[LoggedCompletion]:
    """Fill in whichever of text / ids each row lacks; check the ids and the log-prob count."""
    vocab = len(tokenizer)
    prompt_ids = _prompt_ids(rows, tokenizer, render, source, report)
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


def read_groups(
    path: str | os.PathLike[str], tokenizer, render: Render, require_logprobs: bool = True
) -> list[LoggedGroup]:
    """The checked, tokenized groups of a logged file; every bad row is reported in one DataFormatError.

    ``render(sample)`` is the prompt text the policy sees for a row that gives only ``prompt`` or
    ``messages`` (the rollout engine's chat-template rendering; data does not know chat templates)."""
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
    groups = _group(_tokenize(rows, tokenizer, render, stem, source, report), stem, source, report)
    report.raise_if_any(num_rows)
    return groups
