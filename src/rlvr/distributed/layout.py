"""Where the learner ranks and rollout workers go: Ray placement groups built from the config (pure: no Ray).

- One learner process (``placement: split``): one placement group (``ray.placement_strategy``), the
  learner in bundle 0 and the rollout workers in bundles 1..n.
- ``placement: colocated``: one bundle per learner rank, shared with rollout worker i, each actor taking
  half of its GPU (a bundle of one GPU, so both halves are the same GPU). With ``learner.nodes: 1`` one
  placement group (``ray.placement_strategy``); with more, one group per node (STRICT_PACK: a node's
  ranks on one machine; Ray has no strategy that spreads groups of bundles, and groups of a whole node's
  GPUs land on different nodes anyway).
- A sharded learner, ``placement: split``: the learner has its own placement group of ``learner.nodes``
  bundles, one per machine, each holding ``world_size / nodes`` ranks' resources, with strategy
  STRICT_SPREAD (each bundle on another node; a bundle is always on one node, so a node's ranks are
  packed together); rank r goes to bundle ``r // (world_size / nodes)``. The rollout workers get a second
  group (``ray.placement_strategy``), one bundle each. Rank 0 hosts the process group's rendezvous at its
  node's IP (:func:`rlvr.distributed.fsdp.node_address`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlvr.config import RunConfig
from rlvr.training.learner_config import is_sharded

Resources = dict[str, float]


@dataclass(frozen=True)
class Slot:
    """Where one actor runs: bundle ``bundle`` of placement group ``group``, taking ``resources``."""

    group: int
    bundle: int
    resources: Resources


@dataclass(frozen=True)
class Group:
    """One placement group: its bundles and Ray strategy."""

    bundles: list[Resources]
    strategy: str


@dataclass(frozen=True)
class Layout:
    groups: list[Group]
    learner: list[Slot] = field(default_factory=list)  # one per rank
    rollout: list[Slot] = field(default_factory=list)  # one per rollout worker


def _times(resources: Resources, n: int) -> Resources:
    return {k: v * n for k, v in resources.items()}


def layout(cfg: RunConfig) -> Layout:
    """The placement groups of a Ray run and each learner rank's and rollout worker's slot in them."""
    rc, lc = cfg.ray, cfg.learner
    learner: Resources = {"CPU": rc.learner_cpus, "GPU": rc.learner_gpus}
    rollout: Resources = {"CPU": rc.rollout_cpus, "GPU": rc.rollout_gpus}
    world, workers = lc.world_size, rc.rollout_workers
    if cfg.placement == "colocated":
        gpu = max(rc.learner_gpus, rc.rollout_gpus)
        bundle = {"CPU": rc.learner_cpus + rc.rollout_cpus, "GPU": gpu}
        share, rollout_share = (
            {"CPU": rc.learner_cpus, "GPU": gpu / 2},
            {"CPU": rc.rollout_cpus, "GPU": gpu / 2},
        )
        per_node = world // lc.nodes
        strategy = rc.placement_strategy if lc.nodes == 1 else "STRICT_PACK"
        groups = [Group([dict(bundle) for _ in range(per_node)], strategy) for _ in range(lc.nodes)]
        return Layout(
            groups,
            [Slot(r // per_node, r % per_node, share) for r in range(world)],
            [Slot(i // per_node, i % per_node, rollout_share) for i in range(workers)],
        )
    if not is_sharded(cfg):
        bundles = [dict(learner)] + [dict(rollout) for _ in range(workers)]
        return Layout(
            [Group(bundles, rc.placement_strategy)],
            [Slot(0, 0, learner)],
            [Slot(0, 1 + i, rollout) for i in range(workers)],
        )
    per_node = world // lc.nodes  # a multiple: checked at load
    nodes = Group([_times(learner, per_node) for _ in range(lc.nodes)], "STRICT_SPREAD")
    rollouts = Group([dict(rollout) for _ in range(workers)], rc.placement_strategy)
    return Layout(
        [nodes, rollouts] if workers else [nodes],
        [Slot(0, r // per_node, learner) for r in range(world)],
        [Slot(1, i, rollout) for i in range(workers)],
    )
