"""The error every loader raises for bad input: it names the source, the row and the field."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A data file or row that cannot be turned into :class:`~rlvr.data.sample.Sample` objects.

    The message always starts with where the problem is (``data/train.jsonl row 17: ...``) so that a
    user can open the file at the right place. Rows are numbered from 1; in a JSONL file the row number
    is the line number.
    """


def row_error(source: str, row: int, message: str) -> DataFormatError:
    """An error about one row of ``source`` (``row`` counts from 1)."""
    return DataFormatError(f"{source} row {row}: {message}")
