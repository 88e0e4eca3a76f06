"""The searcher's first prompt: the task, the tag protocol and the naive-RAG results (s3's loop, our
wording)."""

from __future__ import annotations

INSTRUCTIONS = """You are a search assistant for a separate answer model. You see a question and the top \
results of a first search for it. Only the documents you mark as important are given to the answer model.
Each turn:
- mark useful documents of the latest <information> block by number: <important_info>[1, 3]</important_info> \
(at most {max_select});
- then either end with <search_complete>True</search_complete>, or write \
<search_complete>False</search_complete> and a new search query as JSON: \
<query>{{"query": "..."}}</query>. The results come back in <information>.
You may reason inside <think></think> first. Search for what the documents say is missing (for example \
the entity a document names), not for the question again.
"""


def first_prompt(question: str, information: str, max_select: int, instructions: bool = True) -> str:
    head = INSTRUCTIONS.format(max_select=max_select) + "\n" if instructions else ""
    return f"{head}<question>\n{question}\n</question>\n{information}"
