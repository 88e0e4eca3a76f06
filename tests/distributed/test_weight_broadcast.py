"""learner.weight_sync: broadcast, with gloo standing in for NCCL (the code takes the backend as an argument;
NCCL itself needs GPUs): buckets of every dtype and shape cross the weight-sync group intact, and the rules
of the switch. The end-to-end check (2 sharded learner ranks broadcasting to a rollout worker in another
process) shares the spawn of tests/distributed/test_fsdp_critic.py."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from rlvr.config import ConfigError, load_config
from rlvr.distributed.fsdp import node_address
from rlvr.distributed.weight_broadcast import open_group, receive_buckets, send_bucket


def in_thread(fn, *args) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn(*args)
        except BaseException as e:  # re-raised by the test
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_buckets_of_any_dtype_and_shape_arrive_whole_and_in_order():
    buckets = [
        {"a": torch.randn(3, 5), "b": torch.randn(7).to(torch.bfloat16), "step": torch.tensor(4)},
        {"c": torch.arange(6, dtype=torch.int64).reshape(2, 3)},
    ]
    _, port = node_address()

    def receive() -> list[dict[str, torch.Tensor]]:
        group = open_group("gloo", "127.0.0.1", port, 1, 2, timeout_s=8)
        return [{k: v.clone() for k, v in b.items()} for b in receive_buckets(group, "gloo")]

    thread, out = in_thread(receive)
    group = open_group("gloo", "127.0.0.1", port, 0, 2, timeout_s=8)
    for bucket in [*buckets, {}]:
        send_bucket(group, "gloo", bucket)
    thread.join(60)
    assert "error" not in out, out.get("error")
    got = out["result"]
    assert [list(b) for b in got] == [["a", "b", "step"], ["c"]]
    for sent, received in zip(buckets, got, strict=True):
        for k, v in sent.items():
            assert received[k].dtype == v.dtype and received[k].shape == v.shape
            assert torch.equal(received[k], v), k


def test_broadcast_is_for_a_sharded_learner_on_separate_devices():
    with pytest.raises(ConfigError, match="'broadcast' is the sharded learner's"):
        load_config(None, ["backend=ray", "learner.weight_sync=broadcast"])
    with pytest.raises(ConfigError, match="'broadcast' needs placement: split"):
        load_config(
            None,
            ["backend=ray", "learner.world_size=2", "learner.weight_sync=broadcast", "placement=colocated"]
            + ["ray.rollout_workers=2"],
        )
    cfg = load_config(None, ["backend=ray", "learner.world_size=2", "learner.weight_sync=broadcast"])
    from rlvr.distributed.weight_broadcast import sync_backend

    assert sync_backend(cfg) == "gloo"
    cfg.ray.learner_gpus = cfg.ray.rollout_gpus = 1
    assert sync_backend(cfg) == "nccl"
