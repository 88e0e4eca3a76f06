"""The s3 environment: a searcher gathers documents over turns for a frozen generator, rewarded by the
Gain Beyond RAG (s3, arXiv 2505.14146):

    GBR = Acc(G(q, D_s3), A) - Acc(G(q, D_RAG), A)

``reset``: the question and naive RAG's top-k (D_RAG) in ``<information>``. ``step``: the selection
``<important_info>`` applies to the latest information block; ``<search_complete>True`` ends the
episode; a ``<query>`` returns its top-k as the next block. An action with neither gets
``format_penalty`` and a reminder, and the episode goes on (the official code counts it invalid and
asks for a new query). D_s3 = the selected docs, deduplicated, in order; a block with no
``<important_info>`` after it contributes all its docs (as the official reward does).
"""

from __future__ import annotations

import json
import time
from typing import Any

from rlvr.data.multihop import build_world
from rlvr.data.sample import Sample
from rlvr.envs.base import Env, Observation, StepResult
from rlvr.envs.registry import ENVS
from rlvr.envs.s3.accuracy import accuracy
from rlvr.envs.s3.actions import parse_action, render_information
from rlvr.envs.s3.generator import get_answerer, llm_judge
from rlvr.envs.s3.prompt import first_prompt
from rlvr.retrieval import Corpus, Document, Hit, Retriever, build_index, load_index

_WORLDS: dict[str, Retriever] = {}
RAG_CACHE: dict[str, float] = {}
"""Naive-RAG accuracy per (generator, accuracy, retriever, topk, question): computed once per process."""

REMINDER = (
    "\nNo valid action. Mark documents in <important_info>[...]</important_info>, then write "
    '<search_complete>True</search_complete> or <query>{"query": "..."}</query>.\n'
)


def world_retriever(world: dict[str, Any], kind: str = "bm25") -> Retriever:
    """The index over the synthetic world ``world`` (``build_world`` kwargs), built once per process."""
    key = json.dumps({"kind": kind, **world}, sort_keys=True)
    if key not in _WORLDS:
        docs = build_world(**world).docs
        _WORLDS[key] = build_index(Corpus([Document(str(i), t, b) for i, (t, b) in enumerate(docs)]), kind)
    return _WORLDS[key]


@ENVS.register("s3")
class S3Env(Env):
    """Params: ``world`` (synthetic world kwargs) or ``index`` (a directory from ``rlvr index build``);
    ``retriever`` (the world's index kind); ``topk`` docs per search; ``max_select`` docs kept per turn;
    ``format_penalty`` (>= 0, subtracted); ``generator`` (an answerer spec); ``accuracy`` (``span`` |
    ``em``); ``judge`` (an answerer spec asked when no span matches); ``reward`` (``gbr`` | ``generation``:
    the ablation Acc(G(q, D_s3)) alone); ``unselected`` (``all`` | ``none``: what a block without
    ``<important_info>`` contributes); ``chat`` (messages, else raw text); ``instructions`` (False: the
    question and results only, for a tiny model with a short context)."""

    stop = ["</query>"]

    def __init__(
        self,
        world: dict[str, Any] | None = None,
        index: str | None = None,
        retriever: str = "bm25",
        topk: int = 3,
        max_select: int = 3,
        format_penalty: float = 0.1,
        generator: dict[str, Any] | str = "world_reader",
        accuracy: str = "span",
        judge: dict[str, Any] | str | None = None,
        reward: str = "gbr",
        unselected: str = "all",
        chat: bool = True,
        instructions: bool = True,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        if (world is None) == (index is None):
            raise ValueError("s3 env: give exactly one of 'world' (synthetic) or 'index' (a saved index dir)")
        if (
            reward not in ("gbr", "generation")
            or unselected not in ("all", "none")
            or accuracy not in ("span", "em")
        ):
            raise ValueError(
                f"s3 env: reward {reward!r} (gbr|generation), unselected {unselected!r} "
                f"(all|none), accuracy {accuracy!r} (span|em)"
            )
        self.retriever = world_retriever(world, retriever) if world is not None else load_index(str(index))
        self.source = json.dumps(world) if world is not None else str(index)
        self.topk, self.max_select, self.format_penalty = topk, max_select, format_penalty
        self.generator_spec, self.accuracy_mode, self.reward_mode = generator, accuracy, reward
        self.judge = llm_judge(get_answerer(judge)) if judge is not None else None
        self.unselected, self.chat, self.instructions = unselected, chat, instructions
        self.question, self.answers, self.data_source = "", [""], ""
        self.blocks: list[tuple[list[Hit], list[int] | None]] = []
        self.seen: set[int] = set()
        self.queries = 0
        self._score: float | None = None

    def reset(self, sample: Sample) -> Observation:
        meta = sample.metadata
        if "question" not in meta or "answers" not in meta:
            raise ValueError(f"sample {sample.id!r}: the s3 env needs metadata.question and metadata.answers")
        self.question, self.answers = str(meta["question"]), [str(a) for a in meta["answers"]]
        self.data_source = sample.data_source
        rag = self._search(self.question)
        self.rag_docs = rag
        self.blocks, self.seen, self.queries, self._score = [(rag, None)], {h.index for h in rag}, 0, None
        self.turns, self.max_turns = 0, sample.env.max_turns if sample.env is not None else None
        text = first_prompt(self.question, render_information(rag), self.max_select, self.instructions)
        return [{"role": "user", "content": text}] if self.chat else text

    def step(self, action: str) -> StepResult:
        parsed = parse_action(action)
        self.turns += 1
        last = self.max_turns is not None and self.turns >= self.max_turns  # the runner stops after this turn
        if parsed.important is not None and self.blocks[-1][1] is None:
            hits = self.blocks[-1][0]
            picked = [i for i in parsed.important if 1 <= i <= len(hits)][: self.max_select]
            self.blocks[-1] = (hits, picked)
        if parsed.complete:
            return StepResult(None, done=True, metrics={"format_error": 0.0, **self._final_metrics()})
        if not parsed.valid:
            metrics = {"format_error": 1.0, **(self._final_metrics() if last else {})}
            return StepResult(self._say(REMINDER), reward=-self.format_penalty, metrics=metrics)
        start = time.perf_counter()
        hits = self._search(str(parsed.query))
        latency = time.perf_counter() - start
        new = [h for h in hits if h.index not in self.seen]
        self.seen |= {h.index for h in hits}
        self.blocks.append((hits, None))
        self.queries += 1
        metrics = {"format_error": 0.0, "new_docs": float(len(new)), "retrieval_latency_s": latency}
        if last:  # the results of a last-turn query are never seen, but their block counts as unselected
            metrics.update(self._final_metrics())
        return StepResult(self._say(render_information(hits)), metrics=metrics)

    def selected_docs(self) -> list[Hit]:
        """D_s3: the selected docs of every block (all docs of a block with no selection, if
        ``unselected='all'``), deduplicated by corpus row, in order."""
        out: list[Hit] = []
        taken: set[int] = set()
        for hits, picked in self.blocks:
            if picked is None:
                chosen = hits if self.unselected == "all" else []
            else:
                chosen = [hits[i - 1] for i in picked]
            for h in chosen:
                if h.index not in taken:
                    taken.add(h.index)
                    out.append(h)
        return out

    def score(self) -> float | None:
        if self._score is None:
            self._final_metrics()
        return self._score

    def rag_accuracy(self) -> float:
        """Acc(G(q, D_RAG)), cached per process by question, generator, accuracy and retrieval."""
        key = json.dumps([self.generator_spec, self.accuracy_mode, self.source, self.topk, self.question])
        if key not in RAG_CACHE:
            RAG_CACHE[key] = self._accuracy(self.rag_docs)
        return RAG_CACHE[key]

    def _final_metrics(self) -> dict[str, float]:
        docs = self.selected_docs()
        acc_s3 = self._accuracy(docs)
        acc_rag = self.rag_accuracy()
        self._score = acc_s3 - acc_rag if self.reward_mode == "gbr" else acc_s3
        accuracies = {"gbr": acc_s3 - acc_rag, "acc_s3": acc_s3, "acc_rag": acc_rag}
        return {
            **accuracies,
            **{f"{self.data_source}/{k}": v for k, v in accuracies.items()},  # averaged per data source
            "queries": float(self.queries),
            "docs_selected": float(len(docs)),
        }

    def _accuracy(self, docs: list[Hit]) -> float:
        prediction = get_answerer(self.generator_spec)(self.question, docs)
        return accuracy(prediction, self.answers, self.question, self.accuracy_mode, self.judge)

    def _search(self, query: str) -> list[Hit]:
        return self.retriever.search([query], self.topk)[0]

    def _say(self, text: str) -> Observation:
        return [{"role": "user", "content": text}] if self.chat else text
