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


def training_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, critic: Any = None
) -> dict[str, Any]:
    """{"model": ..., "optim": ...} keyed by parameter name: DTensor shards under FSDP2, whole tensors
    otherwise (an empty AdamW is given zero moments first, which a load then overwrites); with a
    ``critic`` (PPO's value model and its optimizer), also {"critic": ..., "critic_optim": ...}."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd}
    if critic is not None:
        state["critic"], state["critic_optim"] = get_state_dict(critic.model, critic.optimizer)
    return state


def load_training_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    path: Path,
    reference: Any = None,
    critic: Any = None,
) -> None:
    """Load the DCP state of checkpoint ``path`` into ``model`` and ``optimizer``, into the frozen
    ``reference`` model when the checkpoint has one (after a ProRL reset), and into ``critic``'s value
    model and optimizer (its schedule is in the checkpoint's objects), resharding as this world needs."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        get_model_state_dict,
        set_model_state_dict,
        set_state_dict,
    )

    saved = saved_keys(path)
    if critic is not None and "critic" not in saved:
        raise ValueError(f"checkpoint {path} has no critic; the run's config has a critic: section")
    state = training_state(model, optimizer, critic)
    with_reference = isinstance(reference, torch.nn.Module) and "reference" in saved
    if with_reference:
        state["reference"] = get_model_state_dict(reference)
    dcp.load(state, checkpoint_id=str(Path(path) / DCP_DIR))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    if with_reference:
        set_model_state_dict(reference, state["reference"])
    if critic is not None:
        set_state_dict(
            critic.model,
            critic.optimizer,
            model_state_dict=state["critic"],
            optim_state_dict=state["critic_optim"],
        )


def load_whole_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, weights: dict[str, Any], optim: dict[str, Any]
) -> None:
    """Whole weights and an AdamW state keyed by parameter index (a one-process checkpoint: the order of
    ``model.parameters()``, which FSDP2 keeps) into a (sharded) model and optimizer, re-keyed by name."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    names = [n for n, p in model.named_parameters() if p.requires_grad]
    by_name: dict[str, Any] = {
        "state": {names[int(i)]: s for i, s in optim.get("state", {}).items()},
        "param_groups": [
            {**g, "params": [names[int(i)] for i in g["params"]]} for g in optim["param_groups"]
        ],
    }
    set_state_dict(
        model,
        optimizer,
        model_state_dict=dict(weights),
        optim_state_dict=by_name,
        options=StateDictOptions(full_state_dict=True, strict=False),
    )


def saved_keys(path: Path) -> set[str]:
    """The top-level keys of a DCP checkpoint's state ("model", "optim", "reference"...)."""
    import torch.distributed.checkpoint as dcp

    meta = dcp.FileSystemReader(str(Path(path) / DCP_DIR)).read_metadata()
    return {k.split(".", 1)[0] for k in meta.state_dict_metadata}
