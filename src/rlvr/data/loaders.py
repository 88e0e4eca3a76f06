"""Loaders from JSONL, Parquet and Hugging Face datasets to ``list[Sample]``, and the JSONL writer.

Every loader takes a ``mapping`` that says which row format the source holds (see
:mod:`rlvr.data.rows`): None for native rlvr rows, a :class:`FieldMapping` for arbitrary rows, a
:class:`VerlMapping` for verl-style rows. Bad input raises :class:`DataFormatError` naming the file,
the row and the field; no row is ever dropped silently; duplicate ids are an error.

pyarrow and datasets are imported when first needed, so importing :mod:`rlvr.data` stays cheap.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rlvr.data.checks import check_sample
from rlvr.data.errors import DataFormatError, row_error
from rlvr.data.rows import FieldMapping, VerlMapping, converter_for, sample_to_row
from rlvr.data.sample import Sample

Mapping = FieldMapping | VerlMapping | None

_HF_FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def _drop_struct_nulls(row: dict[str, Any]) -> dict[str, Any]:
    """Undo Arrow's struct unification in a native row: a key that another row's ``metadata`` or
    ``reward.params`` has comes back as None in this row's; drop such None values."""
    row = dict(row)
    if isinstance(row.get("metadata"), dict):
        row["metadata"] = {k: v for k, v in row["metadata"].items() if v is not None}
    reward = row.get("reward")
    if isinstance(reward, dict) and isinstance(reward.get("params"), dict):
        row["reward"] = {**reward, "params": {k: v for k, v in reward["params"].items() if v is not None}}
    return row


def rows_to_samples(
    rows: Iterable[tuple[int, dict[str, Any]]],
    source: str,
    mapping: Mapping = None,
    id_prefix: str = "row",
    arrow: bool = False,
) -> list[Sample]:
    """Convert numbered rows with ``mapping``; error on a bad row, a duplicate id or no rows at all.

    ``arrow``: the rows come from Arrow (Parquet, datasets), whose structs give every row every key
    some row has; for native rows, None values in ``metadata`` and ``reward.params`` are then dropped.
    """
    convert = converter_for(mapping)
    samples: list[Sample] = []
    first_row: dict[str, int] = {}
    for row_num, row in rows:
        if not isinstance(row, dict):
            raise row_error(source, row_num, f"expected an object (dict), got {type(row).__name__}")
        if arrow and mapping is None:
            row = _drop_struct_nulls(row)
        bad = _non_finite(row)
        if bad is not None:
            raise row_error(source, row_num, f"{bad}: non-finite number; data must hold finite numbers")
        sample = convert(row, source, row_num, id_prefix)
        check_sample(sample, source, row_num)
        if sample.id in first_row:
            raise row_error(
                source, row_num, f"duplicate id {sample.id!r}; row {first_row[sample.id]} has the same id"
            )
        first_row[sample.id] = row_num
        samples.append(sample)
    if not samples:
        raise DataFormatError(f"{source}: no rows")
    return samples


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path (``reward.ground_truth[2]``) of the first NaN or infinite float in a row, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path or "value"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _non_finite(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = _non_finite(v, f"{path}[{i}]")
            if found:
                return found
    return None


def check_unique_ids(samples: Sequence[Sample], sources: Sequence[str]) -> None:
    """Error if two samples share an id; ``sources[i]`` describes where ``samples[i]`` came from."""
    seen: dict[str, int] = {}
    for i, s in enumerate(samples):
        if s.id in seen:
            raise DataFormatError(
                f"duplicate id {s.id!r}: in {sources[seen[s.id]]} and in {sources[i]}; ids must be unique"
            )
        seen[s.id] = i


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(
            f"dataset file '{path}' not found" + (" (it is a directory)" if path.is_dir() else "")
        )


# --------------------------------------------------------------------------------------------------
# JSONL


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(f"non-finite number {name}; data must hold finite numbers")


def iter_jsonl(path: str | os.PathLike[str], strict: bool = True) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` for each non-blank line. A bad line raises naming its number; with
    ``strict=False`` it is yielded as ``(line number, DataFormatError)`` and reading goes on, so that a
    caller can report every bad line at once."""
    p = Path(path)
    _require_file(p)
    with p.open("rb") as f:
        for line_num, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                error = DataFormatError(
                    f"{path} line {line_num}: byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is not "
                    "UTF-8; save the file as UTF-8"
                )
                if strict:
                    raise error from None
                yield line_num, error
                continue
            if not line.strip():
                continue
            try:
                yield line_num, json.loads(line, parse_constant=_reject_constant)
            except (json.JSONDecodeError, _NonFinite) as exc:
                what = (
                    f"invalid JSON ({exc.msg} at column {exc.colno})"
                    if isinstance(exc, json.JSONDecodeError)
                    else str(exc)
                )
                error = DataFormatError(f"{path} line {line_num}: {what}")
                if strict:
                    raise error from None
                yield line_num, error


def load_jsonl(path: str | os.PathLike[str], mapping: Mapping = None) -> list[Sample]:
    """Samples from a JSONL file, one row per line (rows are numbered by line)."""
    return rows_to_samples(iter_jsonl(path), str(path), mapping, Path(path).stem)


def save_jsonl(samples: Iterable[Sample], path: str | os.PathLike[str]) -> Path:
    """Write samples as native rlvr rows, one JSON object per line; ``load_jsonl(path)`` reads them back.

    The file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for sample in samples:
            try:
                line = json.dumps(sample_to_row(sample), ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                tmp.unlink(missing_ok=True)
                raise DataFormatError(f"{p}: sample {sample.id!r} is not JSON-serialisable: {exc}") from exc
            f.write(line + "\n")
    os.replace(tmp, p)
    return p


# --------------------------------------------------------------------------------------------------
# Parquet


def iter_parquet(
    path: str | os.PathLike[str], batch_size: int = 1024
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number from 1, row dict)`` for each row of a Parquet file, read in record batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    _require_file(p)
    try:
        pf = pq.ParquetFile(p)
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(f"{path}: cannot read as Parquet: {exc}") from exc
    row_num = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        for row in batch.to_pylist():
            row_num += 1
            yield row_num, row


def load_parquet(path: str | os.PathLike[str], mapping: Mapping = None) -> list[Sample]:
    """Samples from a Parquet file (rows numbered from 1)."""
    return rows_to_samples(iter_parquet(path), str(path), mapping, Path(path).stem, arrow=True)


# --------------------------------------------------------------------------------------------------
# Hugging Face datasets


def _is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and (
        (path / "dataset_dict.json").is_file()
        or ((path / "state.json").is_file() and (path / "dataset_info.json").is_file())
    )


def open_hf(
    name_or_path: str | os.PathLike[str],
    split: str = "train",
    config_name: str | None = None,
    data_files: str | Sequence[str] | dict[str, Any] | None = None,
) -> Any:
    """A ``datasets.Dataset`` from a ``save_to_disk`` directory, a local data file, or a hub id / builder.

    A local ``.jsonl`` / ``.json`` / ``.parquet`` / ``.csv`` file is loaded as split ``split``. Any other
    name goes to ``datasets.load_dataset(name, config_name, split=split, data_files=data_files)``, so
    ``open_hf("json", data_files="x.jsonl")`` works, as does a hub id where a hub is reachable.
    """
    import datasets

    path = Path(name_or_path)
    if _is_saved_dataset(path):
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataFormatError(f"{name_or_path}: no split {split!r}; splits: {', '.join(ds)}")
            ds = ds[split]
        return ds
    if path.is_file() and path.suffix in _HF_FILE_BUILDERS:
        return datasets.load_dataset(
            _HF_FILE_BUILDERS[path.suffix], data_files={split: str(path)}, split=split
        )
    return datasets.load_dataset(str(name_or_path), config_name, split=split, data_files=data_files)


def load_hf(
    name_or_path: str | os.PathLike[str],
    split: str = "train",
    mapping: Mapping = None,
    config_name: str | None = None,
    data_files: str | Sequence[str] | dict[str, Any] | None = None,
) -> list[Sample]:
    """Samples from a Hugging Face dataset (see :func:`open_hf` for what ``name_or_path`` may be).

    Errors name the source as ``<name_or_path>[<split>]`` and rows from 1.
    """
    ds = open_hf(name_or_path, split, config_name, data_files)
    name = str(name_or_path)
    source = f"{name}[{split}]" if data_files is None else f"{name}({data_files})[{split}]"
    if isinstance(data_files, str):
        prefix = Path(data_files).stem
    else:
        prefix = Path(name).stem if Path(name).exists() else name.replace("/", "_")
    return rows_to_samples(enumerate(ds, start=1), source, mapping, prefix, arrow=True)


# --------------------------------------------------------------------------------------------------
# verl


def load_verl(
    path: str | os.PathLike[str], mapping: VerlMapping | None = None, split: str = "train"
) -> list[Sample]:
    """Samples from verl-style rows in a Parquet file, a JSONL file or a ``save_to_disk`` directory."""
    mapping = mapping if mapping is not None else VerlMapping()
    p = Path(path)
    if p.suffix == ".parquet":
        return load_parquet(p, mapping)
    if p.suffix in (".jsonl", ".json"):
        return load_jsonl(p, mapping)
    if _is_saved_dataset(p):
        return load_hf(p, split, mapping)
    raise DataFormatError(
        f"{path}: expected a .parquet or .jsonl file or a datasets.save_to_disk directory of verl rows"
    )
