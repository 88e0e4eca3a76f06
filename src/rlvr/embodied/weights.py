"""Perception weights on their own: written by the supervised control, read by ``policy.init_perception``.

A file holds the module's ``state_dict`` and the shape it was built with (arch, width, feat_dim,
obs_size); loading checks all four against the policy, so a ChannelCat file cannot silently start a
late-fusion policy or a 64-pixel one.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "rlvr.imagenav.perception/1"
SHAPE_KEYS = ("arch", "width", "feat_dim", "obs_size")


def save_perception(module: nn.Module, path: Path, **shape: Any) -> Path:
    """Write ``module``'s weights with its shape (``arch``, ``width``, ``feat_dim``, ``obs_size``)."""
    missing = set(SHAPE_KEYS) - set(shape)
    if missing:
        raise ValueError(f"save_perception: give {sorted(missing)} too")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, **shape, "state_dict": module.state_dict()}, path)
    return path


def load_perception(module: nn.Module, path: Path, **shape: Any) -> None:
    """Load a :func:`save_perception` file into ``module`` after checking that it was built the same way."""
    if not path.is_file():
        raise FileNotFoundError(f"policy.init_perception: no file {path}")
    not_weights = f"policy.init_perception: {path} is not a perception weights file ({FORMAT})"
    try:  # tensors, strings and numbers only: a file cannot run code when it is read
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # a training checkpoint holds random states and more
        raise ValueError(f"{not_weights}; a training checkpoint? use ppo.init_from") from e
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        hint = (
            " (a training checkpoint: use ppo.init_from)"
            if isinstance(blob, dict) and "policy" in blob
            else ""
        )
        raise ValueError(f"{not_weights}{hint}")
    wrong = [f"{k}: file {blob.get(k)!r}, policy {shape[k]!r}" for k in SHAPE_KEYS if blob.get(k) != shape[k]]
    if wrong:
        raise ValueError(f"policy.init_perception: {path} does not match the policy ({'; '.join(wrong)})")
    module.load_state_dict(blob["state_dict"])
