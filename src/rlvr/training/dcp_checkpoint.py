"""Model and optimizer state in ``torch.distributed.checkpoint`` (DCP) form: the ``dcp/`` folder of a
checkpoint written by a sharded learner.

DCP stores every tensor with its global shape and each rank writes its own shards (``__<rank>_0.distcp``,
plus ``.metadata``); a load reads the pieces each rank's current sharding needs, so a checkpoint written
by 2 ranks resumes on 1, 4 or 8, and one process without a process group (``backend: local``, world
size 1) loads it into a plain model and AdamW. Keys are parameter names (FQNs) for both the model and the
optimizer (``torch.distributed.checkpoint.state_dict``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

DCP_DIR = "dcp"


def is_sharded(path: Path) -> bool:
    """Whether the checkpoint at ``path`` holds its weights and optimizer in DCP form."""
    return (Path(path) / DCP_DIR).is_dir()


def training_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """{"model": ..., "optim": ...} keyed by parameter name: DTensor shards under FSDP2, whole tensors
    otherwise (an empty AdamW is given zero moments first, which a load then overwrites)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, optimizer)
    return {"model": model_sd, "optim": optim_sd}


def load_training_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, path: Path, reference: Any = None
) -> None:
    """Load the DCP state of checkpoint ``path`` into ``model`` and ``optimizer``, and into the frozen
    ``reference`` model when the checkpoint has one (after a ProRL reset), resharding as this world needs."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        get_model_state_dict,
        set_model_state_dict,
        set_state_dict,
    )

    state = training_state(model, optimizer)
    with_reference = isinstance(reference, torch.nn.Module) and "reference" in saved_keys(path)
    if with_reference:
        state["reference"] = get_model_state_dict(reference)
    dcp.load(state, checkpoint_id=str(Path(path) / DCP_DIR))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    if with_reference:
        set_model_state_dict(reference, state["reference"])


def saved_keys(path: Path) -> set[str]:
    """The top-level keys of a DCP checkpoint's state ("model", "optim", "reference"...)."""
    import torch.distributed.checkpoint as dcp

    meta = dcp.FileSystemReader(str(Path(path) / DCP_DIR)).read_metadata()
    return {k.split(".", 1)[0] for k in meta.state_dict_metadata}
