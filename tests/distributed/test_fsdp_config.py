"""learner.* and placement: load-time checks, the placement group layout, and colocated sleep / wake.

On CPUs only the switch, its checks, the bundle layout and the order of sleep / wake calls can be tested:
vLLM's sleep mode needs a GPU (benchmarks/fsdp_colocated_gpu.py runs it)."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from rlvr.config import ConfigError, load_config
from rlvr.distributed.layout import Group, Slot, layout
from rlvr.distributed.pools import RolloutPool
from rlvr.rollout.types import Completion, SamplingParams

RAY2 = ["backend=ray", "learner.world_size=2"]


def _problems(*overrides: str) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(None, list(overrides))
    return str(exc.value)


def test_a_sharded_learner_needs_ray_full_weights_and_whole_nodes():
    assert "set backend: ray" in _problems("learner.world_size=2")
    assert "model.lora is not supported" in _problems(*RAY2, "model.lora={r: 4}")
    assert "critic.lora is not supported" in _problems(
        *RAY2, "critic={lora: {r: 4}}", "algorithm.advantage=gae"
    )
    load_config(None, [*RAY2, "critic={}", "algorithm.advantage=gae"])  # a full critic is sharded too
    assert "cannot be split evenly over learner.nodes=2" in _problems(
        *RAY2[:1], "learner.world_size=3", "learner.nodes=2"
    )
    assert "greater than or equal to 1" in _problems("learner.world_size=0")
    assert "learner.mixed_precision" in _problems("learner.mixed_precision=fp8")
    assert "several learner ranks on one GPU" in _problems(*RAY2, "ray.learner_gpus=0.5")
    cfg = load_config(
        None, [*RAY2, "learner.nodes=2", "learner.mixed_precision=bf16", "learner.offload=true"]
    )
    assert (cfg.learner.world_size, cfg.learner.nodes, cfg.placement) == (2, 2, "split")


def test_colocated_needs_ray_one_rollout_worker_per_rank_and_no_staleness():
    assert "placement: 'colocated' places Ray actors" in _problems("placement=colocated")
    msg = _problems(*RAY2, "placement=colocated", "ray.rollout_workers=1", "trainer.max_staleness=1")
    assert "ray.rollout_workers (1) must equal learner.world_size (2)" in msg
    assert "trainer.max_staleness must be 0 (got 1)" in msg
    assert "placement: Input should be 'split' or 'colocated'" in _problems("placement=spread")


GPUS = ["ray.learner_cpus=2", "ray.learner_gpus=1", "ray.rollout_cpus=1", "ray.rollout_gpus=1"]


def test_a_sharded_learner_gets_one_bundle_per_node_spread_over_the_nodes():
    places = layout(load_config(None, ["backend=ray", "learner.world_size=16", "learner.nodes=2", *GPUS]))
    nodes, rollouts = places.groups
    assert (nodes.strategy, nodes.bundles) == ("STRICT_SPREAD", [{"CPU": 16, "GPU": 8}] * 2)
    assert [(s.group, s.bundle) for s in places.learner] == [(0, 0)] * 8 + [(0, 1)] * 8
    assert {tuple(s.resources.items()) for s in places.learner} == {(("CPU", 2), ("GPU", 1))}
    assert (rollouts.strategy, rollouts.bundles) == ("PACK", [{"CPU": 1, "GPU": 1}])
    assert places.rollout == [Slot(1, 0, {"CPU": 1, "GPU": 1})]
    one = layout(load_config(None, [*RAY2, *GPUS, "ray.rollout_workers=3"]))  # nodes: 1
    assert one.groups[0] == Group([{"CPU": 4, "GPU": 2}], "STRICT_SPREAD")  # both ranks on one node
    assert [(s.group, s.bundle) for s in one.learner + one.rollout] == [
        (0, 0),
        (0, 0),
        (1, 0),
        (1, 1),
        (1, 2),
    ]


def test_one_learner_and_colocated_placements():
    single = layout(load_config(None, ["backend=ray", *GPUS, "ray.rollout_workers=2"]))
    assert single.groups == [Group([{"CPU": 2, "GPU": 1}] + [{"CPU": 1, "GPU": 1}] * 2, "PACK")]
    assert [s.bundle for s in single.learner + single.rollout] == [0, 1, 2]
    colocated = [*RAY2, *GPUS, "ray.rollout_workers=2", "placement=colocated"]
    places = layout(load_config(None, colocated))
    # a learner rank and a vLLM engine share each one-GPU bundle
    assert places.groups == [Group([{"CPU": 3, "GPU": 1}] * 2, "PACK")]
    assert places.learner == [Slot(0, 0, {"CPU": 2, "GPU": 0.5}), Slot(0, 1, {"CPU": 2, "GPU": 0.5})]
    assert places.rollout == [Slot(0, 0, {"CPU": 1, "GPU": 0.5}), Slot(0, 1, {"CPU": 1, "GPU": 0.5})]
    two_nodes = layout(load_config(None, [*colocated, "learner.nodes=2"]))
    assert two_nodes.groups == [Group([{"CPU": 3, "GPU": 1}], "STRICT_PACK")] * 2
    assert [(s.group, s.bundle) for s in two_nodes.learner] == [(0, 0), (1, 0)]


class _Worker:
    name = "w"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def call(self, method, *args):
        self.log.append(method)
        if method == "generate":
            return [Completion(0, [1], [0.0], "", "stop", [1], 0)], {
                "gen_s": 0.0,
                "tokens": 1.0,
                "version": 0.0,
            }
        return 0.0

    def submit(self, method, *args) -> Future:
        f: Future = Future()
        f.set_result(self.call(method, *args))
        return f

    def close(self) -> None: ...


def test_colocated_workers_sleep_after_generating_and_wake_before_the_sync():
    log: list[str] = []
    pool = RolloutPool([_Worker(log)], None, 8, shares_learner_model=False, sleeps=True)
    pool.asleep = True  # as after the previous step's generation
    params = SamplingParams(n=1)
    pool.generate([[1]], params)  # wake, generate, sleep: the learner's update then has the device
    pool.sync({"w": 0}, 1)  # wake before loading the new weights
    pool.generate([[1]], params)
    assert log == ["wake_up", "generate", "sleep", "wake_up", "set_weights", "generate", "sleep"]
    split: list[str] = []
    RolloutPool([_Worker(split)], None, 8, shares_learner_model=False).generate([[1]], params)
    assert split == ["generate"]


def test_a_run_may_resume_with_another_world_size_or_placement_but_not_other_precision():
    from rlvr.training.checkpoint import config_diff

    two = load_config(None, [*RAY2, "ray.rollout_workers=2", "placement=colocated"]).model_dump(mode="json")
    one = load_config(None, ["learner.offload=true", "learner.weight_sync_bucket_mb=64"]).model_dump(
        mode="json"
    )
    assert config_diff(two, one) == []  # DCP reshards; placement and transport do not change the math
    bf16 = load_config(None, ["learner.mixed_precision=bf16"]).model_dump(mode="json")
    assert config_diff(one, bf16) == ["learner.mixed_precision: 'none' -> 'bf16'"]
