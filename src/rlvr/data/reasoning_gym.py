"""reasoning-gym tasks as Samples, scored by each task's own ``score_answer``.

Each sample carries ``RewardSpec(verifier="reasoning_gym", ground_truth={"task", "entry", "config"})``:
``task`` is the reasoning-gym dataset that made the entry (for a weighted mix, the sub-task, taken from
``entry["metadata"]["source_dataset"]``), ``entry`` the reasoning-gym entry made JSON-safe (tuples and
sets become lists, numpy scalars Python numbers, dict keys strings) so it survives a process pool and a
JSONL dump, and ``config`` the task's user config (some tasks score with config options, e.g. ARC's
board format). :func:`score_reasoning_gym` scores an extracted answer against such a ground truth,
undoing the JSON conversion where a task's scorer needs it.

reasoning_gym is imported on first use (it takes about two seconds).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rlvr.data.generators import GENERATORS
from rlvr.data.sample import RewardSpec, Sample
from rlvr.registry import UnknownNameError

DEFAULT_PROMPT_TEMPLATE = "{question}\n\nGive your final answer inside <answer></answer> tags."
"""The default prompt: the task's question, then how to mark the final answer."""

VERIFIER = "reasoning_gym"


class ReasoningGymTask(BaseModel):
    """One reasoning-gym task in a (possibly weighted) mix."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    name: str
    """reasoning-gym dataset name (``reasoning_gym.factory.DATASETS``), e.g. ``chain_sum``."""
    weight: float = Field(1.0, gt=0)
    """Relative sampling weight in a mix (ignored for a single task)."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the task's config dataclass (``size`` and ``seed`` come from the spec)."""


TaskList = str | Mapping[str, float] | Sequence[str | ReasoningGymTask | Mapping[str, Any]]


def normalize_tasks(tasks: TaskList) -> list[ReasoningGymTask]:
    """``"chain_sum"``, ``{"chain_sum": 2, "gcd": 1}`` or a list of names / task dicts -> task list."""
    if isinstance(tasks, str):
        out = [ReasoningGymTask(name=tasks)]
    elif isinstance(tasks, Mapping):
        out = [ReasoningGymTask(name=n, weight=w) for n, w in tasks.items()]
    else:
        out = [
            t
            if isinstance(t, ReasoningGymTask)
            else ReasoningGymTask(name=t)
            if isinstance(t, str)
            else ReasoningGymTask.model_validate(t)
            for t in tasks
        ]
    if not out:
        raise ValueError("reasoning-gym: no tasks given")
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ValueError(f"reasoning-gym: a task is listed twice in {names}")
    return out


def to_jsonable(value: Any) -> Any:
    """A JSON-safe copy: tuples / lists -> lists, sets -> sorted lists, numpy -> Python, keys -> str.

    Objects of any other type become their ``str``; reasoning-gym entries hold none (checked across
    all tasks of reasoning-gym 0.1.25).
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return [to_jsonable(v) for v in sorted(value, key=repr)]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return to_jsonable(tolist())
    return str(value)


def _tuple_grid(grid: Any) -> Any:
    if isinstance(grid, list) and all(isinstance(r, list) for r in grid):
        return tuple(tuple(r) for r in grid)
    return grid


def _restore_arc(entry: dict[str, Any]) -> dict[str, Any]:
    # ARC scorers compare a parsed tuple-of-tuples board with metadata["output"] using ==.
    metadata = dict(entry.get("metadata", {}))
    for key in ("input", "output"):
        if key in metadata:
            metadata[key] = _tuple_grid(metadata[key])
    return {**entry, "metadata": metadata}


_ENTRY_RESTORERS = {"arc_agi": _restore_arc, "rearc": _restore_arc}
"""Tasks whose ``score_answer`` needs Python types the JSON conversion lost (found by scoring every
task's gold answer against a JSON round-tripped entry)."""


def _check_tasks(tasks: Sequence[ReasoningGymTask]) -> None:
    """Unknown task names and config keys fail here, with the valid choices listed."""
    from reasoning_gym.factory import DATASETS

    for t in tasks:
        if t.name not in DATASETS or t.name == "composite":
            known = ", ".join(sorted(n for n in DATASETS if n != "composite"))
            raise UnknownNameError(f"unknown reasoning-gym task {t.name!r}; known: {known}")
        fields = {f.name for f in dataclasses.fields(DATASETS[t.name][1])}
        unknown = sorted(set(t.config) - fields)
        if unknown:
            raise ValueError(
                f"reasoning-gym task {t.name!r}: unknown config key {unknown[0]!r}; "
                f"valid: {', '.join(sorted(fields))}"
            )


def _make_dataset(tasks: Sequence[ReasoningGymTask], size: int, seed: int) -> Any:
    import reasoning_gym
    from reasoning_gym.composite import DatasetSpec as RGDatasetSpec

    if len(tasks) == 1:
        t = tasks[0]
        return reasoning_gym.create_dataset(t.name, **(t.config | {"size": size, "seed": seed}))
    specs = [RGDatasetSpec(name=t.name, weight=t.weight, config=dict(t.config)) for t in tasks]
    return reasoning_gym.create_dataset("composite", size=size, seed=seed, datasets=specs)


def reasoning_gym_samples(
    tasks: TaskList,
    size: int,
    seed: int,
    *,
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE,
    system_prompt: str | None = None,
    as_messages: bool = False,
    id_prefix: str | None = None,
) -> list[Sample]:
    """``size`` samples of a reasoning-gym task or weighted mix, deterministic in ``seed``.

    The prompt is ``prompt_template`` with ``{question}`` replaced by the task's question. With
    ``system_prompt`` or ``as_messages`` the sample holds chat messages instead of plain text. Ids are
    ``<id_prefix>-<seed>-<index>`` (default prefix: ``rg-<task>``, or ``rg-mix`` for a mix); the data
    source is ``reasoning_gym/<task>``.
    """
    if "{question}" not in prompt_template:
        raise ValueError(f"prompt_template must contain '{{question}}', got {prompt_template!r}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    task_list = normalize_tasks(tasks)
    _check_tasks(task_list)
    configs = {t.name: to_jsonable(t.config) for t in task_list}
    prefix = id_prefix or (f"rg-{task_list[0].name}" if len(task_list) == 1 else "rg-mix")
    dataset = _make_dataset(task_list, size, seed)
    samples = []
    for idx in range(size):
        entry = to_jsonable(dataset[idx])
        task = entry.get("metadata", {}).get("source_dataset", task_list[0].name)
        text = prompt_template.replace("{question}", entry["question"])
        prompt: str | None = text
        messages = None
        if system_prompt is not None or as_messages:
            prompt, messages = None, [{"role": "user", "content": text}]
            if system_prompt is not None:
                messages.insert(0, {"role": "system", "content": system_prompt})
        samples.append(
            Sample(
                id=f"{prefix}-{seed}-{idx}",
                prompt=prompt,
                messages=messages,
                data_source=f"reasoning_gym/{task}",
                reward=RewardSpec(VERIFIER, {"task": task, "entry": entry, "config": configs.get(task, {})}),
                metadata={"task": task, "index": idx, "seed": seed},
            )
        )
    return samples


@GENERATORS.register("reasoning_gym")
def _reasoning_gym_generator(
    size: int, seed: int, tasks: TaskList = "chain_sum", **kwargs: Any
) -> list[Sample]:
    return reasoning_gym_samples(tasks, size, seed, **kwargs)


@functools.lru_cache(maxsize=256)
def _score_fn(task: str, config_json: str) -> Any:
    import reasoning_gym

    config = json.loads(config_json)
    config.setdefault("size", 1)  # scoring needs the task's options, not its items
    return reasoning_gym.create_dataset(task, **config).score_answer


def score_reasoning_gym(answer: str | None, ground_truth: Mapping[str, Any]) -> float:
    """Score an extracted answer with the task's own ``score_answer`` (1.0 for the gold answer).

    ``ground_truth`` is a sample's ``reward.ground_truth`` as built by :func:`reasoning_gym_samples`
    (after any JSON round trip). The answer is what the model put inside ``<answer></answer>``;
    extracting it from a completion is the verifier's job.
    """
    task = ground_truth["task"]
    entry = dict(ground_truth["entry"])
    restore = _ENTRY_RESTORERS.get(task)
    if restore is not None:
        entry = restore(entry)
    config_json = json.dumps(ground_truth.get("config") or {}, sort_keys=True)
    return float(_score_fn(task, config_json)(answer, entry))
