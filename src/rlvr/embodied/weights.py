"""Weights from files: perception weights on their own (written by the supervised control, read by
``policy.init_perception``) and the policy of a training checkpoint (``ppo.init_from``, ``rlvr eval``).

A perception file holds the module's ``state_dict`` and the shape it was built with (arch, width,
feat_dim, obs_size); loading checks all four against the policy, so a ChannelCat file cannot silently
start a late-fusion policy or a 64-pixel one. A training checkpoint records its arch, checked the same way.
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


def read_policy_checkpoint(path: Path, arch: str, field: str) -> dict[str, torch.Tensor]:
    """The policy ``state_dict`` of a training checkpoint (a ``.pt`` file, or a run directory: its
    ``checkpoints/latest.pt``), after checking that it holds a policy of ``arch``. Errors name ``field``."""
    from rlvr.recipe_files import ConfigError

    file = path / "checkpoints" / "latest.pt" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"{field}: no checkpoint at {file} (a run directory or its checkpoints/latest.pt)")
    try:
        blob = torch.load(file, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
        raise ConfigError(f"{field}: {file} is not a readable training checkpoint ({e})") from e
    if not isinstance(blob, dict) or "policy" not in blob:
        hint = (
            " (a perception weights file: use policy.init_perception)"
            if isinstance(blob, dict) and blob.get("format") == FORMAT
            else ""
        )
        raise ConfigError(f"{field}: {file} is not an image-goal training checkpoint{hint}")
    if blob.get("arch") != arch:
        raise ConfigError(
            f"{field}: {file} holds a {blob.get('arch')!r} policy; the recipe's policy.arch is {arch!r}"
        )
    state: dict[str, torch.Tensor] = blob["policy"]
    return state


def load_state(module: nn.Module, state: dict[str, torch.Tensor], field: str) -> None:
    """``module.load_state_dict(state)``; a mismatch names ``field`` and the recipe fields that shape it."""
    from rlvr.recipe_files import ConfigError

    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).splitlines()[1:3])
        raise ConfigError(
            f"{field}: the weights do not fit the recipe's policy (built from policy.arch, width, feat_dim,"
            f" hidden and env.obs_size): {detail}"
        ) from e
