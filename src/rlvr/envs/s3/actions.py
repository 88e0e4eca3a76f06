"""The searcher's action format (s3): ``<query>{"query": "..."}</query>`` (JSON or plain text),
``<important_info>[1, 4]</important_info>`` (doc numbers of the last ``<information>`` block) and
``<search_complete>True|False</search_complete>``; ``<think>`` anywhere."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from rlvr.retrieval import Hit

_QUERY = re.compile(r"<query>(.*?)</query>", re.DOTALL)
_IMPORTANT = re.compile(r"<important_info>(.*?)</important_info>", re.DOTALL)
_COMPLETE = re.compile(r"<search_complete>(.*?)</search_complete>", re.DOTALL)
_TRUE = {"true", "yes", "1", "y"}


@dataclass
class Action:
    """One parsed turn: the query (None: none), the selected doc numbers, and whether search is done."""

    query: str | None
    important: list[int] | None = None  # None: no <important_info> tag
    complete: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.complete or bool(self.query)


def parse_action(text: str) -> Action:
    """Parse one turn; a malformed part is noted (``notes``), never raised."""
    notes: list[str] = []
    complete = False
    if m := _COMPLETE.search(text):
        complete = m.group(1).strip().lower() in _TRUE
    important = None
    if m := _IMPORTANT.search(text):
        important = list(dict.fromkeys(int(n) for n in re.findall(r"\d+", m.group(1))))
    query = None
    if (m := _QUERY.search(text)) and not complete:
        query = _query_text(m.group(1).strip())
        if not query:
            notes.append("empty query")
    elif not complete:
        notes.append("no <query> and no <search_complete>True")
    return Action(query, important, complete, notes)


def _query_text(raw: str) -> str:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if isinstance(data, dict) and "query" in data:
        value = data["query"]
        return str(value[0] if isinstance(value, list) and value else value).strip()
    return raw


def render_information(hits: list[Hit]) -> str:
    """``<information>`` with numbered docs, in the official format: ``Doc i(Title: t) body``."""
    body = "".join(f"Doc {i}(Title: {h.title}) {h.body}\n" for i, h in enumerate(hits, 1))
    return f"<information>\n{body}</information>\n"
