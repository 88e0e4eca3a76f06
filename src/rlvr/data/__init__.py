"""Datasets: the Sample schema, loaders and task generators."""

from rlvr.data import multihop as _multihop  # noqa: F401  (registers multihop_world)
from rlvr.data import s3_qa as _s3_qa  # noqa: F401  (registers s3_questions)
from rlvr.data import tasks as _tasks  # noqa: F401  (registers the built-in generators)
from rlvr.data import visual_tasks as _visual_tasks  # noqa: F401  (registers the visual generators)
from rlvr.data.errors import DataFormatError
from rlvr.data.generators import GENERATORS, generate
from rlvr.data.loaders import load_hf, load_jsonl, load_parquet, load_verl, save_jsonl
from rlvr.data.reasoning_gym import ReasoningGymTask, reasoning_gym_samples, score_reasoning_gym
from rlvr.data.rows import FieldMapping, VerlMapping, sample_to_row
from rlvr.data.sample import RewardSpec, Sample
from rlvr.data.sampler import PromptSampler
from rlvr.data.specs import (
    DatasetSpec,
    HFDatasetSpec,
    JsonlDatasetSpec,
    ParquetDatasetSpec,
    ReasoningGymDatasetSpec,
    SyntheticDatasetSpec,
    VerlDatasetSpec,
    load_dataset_spec,
    load_dataset_specs,
    parse_dataset_spec,
)

__all__ = [
    "GENERATORS",
    "DataFormatError",
    "DatasetSpec",
    "FieldMapping",
    "HFDatasetSpec",
    "JsonlDatasetSpec",
    "ParquetDatasetSpec",
    "PromptSampler",
    "ReasoningGymDatasetSpec",
    "ReasoningGymTask",
    "RewardSpec",
    "Sample",
    "SyntheticDatasetSpec",
    "VerlDatasetSpec",
    "VerlMapping",
    "generate",
    "load_dataset_spec",
    "load_dataset_specs",
    "load_hf",
    "load_jsonl",
    "load_parquet",
    "load_verl",
    "parse_dataset_spec",
    "reasoning_gym_samples",
    "sample_to_row",
    "save_jsonl",
    "score_reasoning_gym",
]
