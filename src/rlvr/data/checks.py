"""Checks every loaded sample must pass, registered by the layers that know what they need.

``data`` cannot know which verifiers exist or what ground truth each accepts (it never imports
``rewards``); ``rlvr.rewards`` registers that check here when it is imported. Loaders run every check
on every sample with its file and row, so a bad row fails before any model loads, with an error that
names the file, the row and the field.
"""

from __future__ import annotations

from collections.abc import Callable

from rlvr.data.errors import row_error
from rlvr.data.sample import Sample

# (sample) -> None if fine, else (field, what is wrong), e.g. ("reward.verifier", "unknown verifier ...")
SampleCheck = Callable[[Sample], "tuple[str, str] | None"]

SAMPLE_CHECKS: dict[str, SampleCheck] = {}


def register_sample_check(name: str, check: SampleCheck) -> None:
    """Add (or replace) the check called ``name``."""
    SAMPLE_CHECKS[name] = check


def check_sample(sample: Sample, source: str, row: int) -> None:
    """Run every registered check; the first problem raises ``DataFormatError`` naming source, row, field."""
    for check in SAMPLE_CHECKS.values():
        problem = check(sample)
        if problem is not None:
            field, message = problem
            raise row_error(source, row, f"{field}: {message}")
