"""A process group without Ray: ``world_size`` local processes (torch.multiprocessing, spawn) on gloo.

The user-facing path is Ray actors (:mod:`rlvr.distributed.learner_group`); this one runs a function on
every rank of a local group, for tests and scripts that check the sharded learner against one process:

    results = run_ranks(fn, 2, arg)    # fn(rank, world_size, arg) on 2 ranks; returns [result_0, result_1]
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rlvr.distributed.fsdp import init_group, node_address


def _rank_main(rank: int, fn: Callable[..., Any], world_size: int, port: int, out: str, args: tuple) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    try:
        init_group(rank, world_size, "127.0.0.1", port, timeout_s=300)
        result = fn(rank, world_size, *args)
        torch.save({"ok": result}, Path(out) / f"rank{rank}.pt")
    except BaseException:
        torch.save({"error": traceback.format_exc()}, Path(out) / f"rank{rank}.pt")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run_ranks(fn: Callable[..., Any], world_size: int, *args: Any) -> list[Any]:
    """``fn(rank, world_size, *args)`` on each rank of a gloo group of local processes; their results in
    rank order (anything ``torch.save`` can write). A rank that raises fails the call with its traceback."""
    _, port = node_address()
    with tempfile.TemporaryDirectory(prefix="rlvr-ranks-") as out:
        try:
            mp.start_processes(
                _rank_main, args=(fn, world_size, port, out, args), nprocs=world_size, start_method="spawn"
            )
        except mp.ProcessRaisedException as exc:
            errors = [
                r["error"]
                for i in range(world_size)
                if (f := Path(out) / f"rank{i}.pt").exists()
                and "error" in (r := torch.load(f, weights_only=False))
            ]
            raise RuntimeError("a rank failed:\n" + "\n".join(errors or [str(exc)])) from exc
        return [torch.load(Path(out) / f"rank{i}.pt", weights_only=False)["ok"] for i in range(world_size)]
