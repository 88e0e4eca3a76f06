"""Dataset specs: the ``data`` section of a recipe, a union keyed on ``type``.

```yaml
train:
  - {type: jsonl, path: data/train.jsonl}
  - {type: hf, name: openai/gsm8k, config_name: main, mapping: {prompt_key: question, answer_transform: gsm8k_final, verifier: math}}
  - {type: verl, path: data/verl_train.parquet}
  - {type: reasoning_gym, tasks: {chain_sum: 2, gcd: 1}, size: 1000, seed: 0}
  - {type: synthetic, generator: my_task, size: 256, seed: 0, kwargs: {max_digits: 3}}
```
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from rlvr.data.checks import check_sample
from rlvr.data.generators import generate
from rlvr.data.loaders import check_unique_ids, load_hf, load_jsonl, load_parquet, load_verl
from rlvr.data.reasoning_gym import (
    DEFAULT_PROMPT_TEMPLATE,
    ReasoningGymTask,
    normalize_tasks,
    reasoning_gym_samples,
)
from rlvr.data.rows import FieldMapping, VerlMapping
from rlvr.data.sample import Sample


class _SpecBase(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    limit: int | None = Field(None, ge=1)
    """Keep at most this many samples (after shuffling, so a shuffled limit is a random subset)."""
    shuffle_seed: int | None = None
    """Shuffle the samples with this seed before ``limit``; None keeps the source's order."""


class JsonlDatasetSpec(_SpecBase):
    """A JSONL file, one row per line."""

    type: Literal["jsonl"] = "jsonl"
    """Discriminator."""
    path: str
    """Path to the ``.jsonl`` file."""
    mapping: FieldMapping | None = None
    """How to read arbitrary rows; None for native rlvr rows."""


class ParquetDatasetSpec(_SpecBase):
    """A Parquet file."""

    type: Literal["parquet"] = "parquet"
    """Discriminator."""
    path: str
    """Path to the ``.parquet`` file."""
    mapping: FieldMapping | None = None
    """How to read arbitrary rows; None for native rlvr rows."""


class HFDatasetSpec(_SpecBase):
    """A Hugging Face dataset: a ``save_to_disk`` directory, a local data file, a builder or a hub id."""

    type: Literal["hf"] = "hf"
    """Discriminator."""
    name: str
    """Hub id (``openai/gsm8k``), ``save_to_disk`` directory, local ``.jsonl/.json/.parquet/.csv`` file,
    or a builder name (``json``, ``parquet``) used with ``data_files``."""
    split: str = "train"
    """Split to load."""
    config_name: str | None = None
    """Dataset configuration (``main`` for GSM8K)."""
    data_files: str | list[str] | dict[str, str | list[str]] | None = None
    """Data files for a builder name, as ``datasets.load_dataset`` takes them."""
    mapping: FieldMapping | None = None
    """How to read arbitrary rows; None for native rlvr rows."""


class VerlDatasetSpec(_SpecBase):
    """verl-style rows (incl. V-Triune) in a Parquet / JSONL file or a ``save_to_disk`` directory."""

    type: Literal["verl"] = "verl"
    """Discriminator."""
    path: str
    """Path to the ``.parquet`` / ``.jsonl`` file or ``save_to_disk`` directory."""
    split: str = "train"
    """Split, for a ``save_to_disk`` directory holding several."""
    mapping: VerlMapping = Field(default_factory=VerlMapping)
    """Verifier choice per data source and id rule."""


class ReasoningGymDatasetSpec(_SpecBase):
    """Procedurally generated reasoning-gym tasks, scored by each task's ``score_answer``."""

    type: Literal["reasoning_gym"] = "reasoning_gym"
    """Discriminator."""
    tasks: list[ReasoningGymTask]
    """Tasks: a name (``chain_sum``), a name -> weight map for a mix, or a list of
    ``{name, weight, config}``."""
    size: int = Field(ge=1)
    """Number of samples to generate."""
    seed: int = 0
    """Generation seed; the same seed gives the same samples."""
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    """Prompt text; ``{question}`` is replaced by the task's question."""
    system_prompt: str | None = None
    """A system message; when set, samples hold chat messages."""
    as_messages: bool = False
    """Send the prompt as a single user message instead of plain text."""

    @field_validator("tasks", mode="before")
    @classmethod
    def _normalize(cls, v: Any) -> Any:
        if isinstance(v, str | Mapping):
            return normalize_tasks(v)
        if isinstance(v, list):
            return [{"name": t} if isinstance(t, str) else t for t in v]
        return v


class SyntheticDatasetSpec(_SpecBase):
    """Samples from a registered generator (:data:`rlvr.data.GENERATORS`) or a ``module:attr`` path."""

    type: Literal["synthetic"] = "synthetic"
    """Discriminator."""
    generator: str
    """Generator name or ``module:attr`` import path."""
    size: int = Field(ge=1)
    """Number of samples to generate."""
    seed: int = 0
    """Generation seed."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for the generator."""


DatasetSpec = Annotated[
    JsonlDatasetSpec
    | ParquetDatasetSpec
    | HFDatasetSpec
    | VerlDatasetSpec
    | ReasoningGymDatasetSpec
    | SyntheticDatasetSpec,
    Field(discriminator="type"),
]
"""Any dataset spec; pydantic picks the variant by ``type``."""

_ADAPTER: TypeAdapter[Any] = TypeAdapter(DatasetSpec)


def parse_dataset_spec(obj: Any) -> Any:
    """Validate a dict (e.g. from YAML) into the matching DatasetSpec variant."""
    return _ADAPTER.validate_python(obj)


def describe_spec(spec: Any) -> str:
    """A short name for a spec in error messages (``jsonl data/train.jsonl``)."""
    where = getattr(spec, "path", None) or getattr(spec, "name", None) or getattr(spec, "generator", None)
    if where is None and isinstance(spec, ReasoningGymDatasetSpec):
        where = "+".join(t.name for t in spec.tasks)
    return f"{spec.type} {where}"


def _load(spec: Any) -> list[Sample]:
    match spec:
        case JsonlDatasetSpec():
            return load_jsonl(spec.path, spec.mapping)
        case ParquetDatasetSpec():
            return load_parquet(spec.path, spec.mapping)
        case HFDatasetSpec():
            return load_hf(spec.name, spec.split, spec.mapping, spec.config_name, spec.data_files)
        case VerlDatasetSpec():
            return load_verl(spec.path, spec.mapping, spec.split)
        case ReasoningGymDatasetSpec():
            return reasoning_gym_samples(
                spec.tasks,
                spec.size,
                spec.seed,
                prompt_template=spec.prompt_template,
                system_prompt=spec.system_prompt,
                as_messages=spec.as_messages,
            )
        case SyntheticDatasetSpec():
            return generate(spec.generator, spec.size, spec.seed, **spec.kwargs)
    raise TypeError(f"not a dataset spec: {spec!r}")


def load_dataset_spec(spec: Any) -> list[Sample]:
    """The samples a spec (a DatasetSpec variant or a dict) describes, shuffled and limited."""
    if isinstance(spec, Mapping):
        spec = parse_dataset_spec(spec)
    samples = _load(spec)
    if isinstance(spec, ReasoningGymDatasetSpec | SyntheticDatasetSpec):  # file rows are checked as read
        for i, sample in enumerate(samples, start=1):
            check_sample(sample, describe_spec(spec), i)
    if spec.shuffle_seed is not None:
        samples = list(samples)
        random.Random(spec.shuffle_seed).shuffle(samples)
    if spec.limit is not None:
        samples = samples[: spec.limit]
    return samples


def load_dataset_specs(specs: Sequence[Any]) -> list[Sample]:
    """The samples of several specs, concatenated in order; ids must be unique across all of them."""
    samples: list[Sample] = []
    sources: list[str] = []
    for spec in specs:
        spec = parse_dataset_spec(spec) if isinstance(spec, Mapping) else spec
        part = load_dataset_spec(spec)
        samples += part
        sources += [describe_spec(spec)] * len(part)
    check_unique_ids(samples, sources)
    return samples
