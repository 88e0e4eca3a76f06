"""PPO's critic on the ranks of an FSDP2 group: the value model sharded like the policy, exact across ranks.

The value model (a copy of the policy's backbone and a linear head) is wrapped with
:func:`~rlvr.distributed.fsdp.shard_model` (each decoder layer, then the root) on the same ranks as the
policy, with its own AdamW over its own shards. Data parallel as for the policy
(:mod:`rlvr.distributed.sharded_learner`):

- ``values``: each rank computes the values of its share of the batch (contiguous rows), and the shares
  are summed over the ranks into every rank's (B, R) copy (the other rows hold 0: exact);
- ``update``: the epochs and mini-batches are drawn alike on every rank (same seed), rank r trains on
  share r of each mini-batch, the value loss is aggregated with the mini-batch's token count summed over
  the ranks first, the gradients are reduce-scattered as sums, and clipping uses the global norm: the
  ranks' losses and gradients add up to the whole mini-batch's, as one process computes them;
- every rank runs the same number of forward/backward passes: a rank with fewer micro-batches runs
  zero-weighted passes over one row.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from rlvr.config import RunConfig
from rlvr.distributed.fsdp import all_reduce, full_tensor, shard_model, sum_over_ranks
from rlvr.distributed.sharded_learner import rank_share
from rlvr.training.critic import Critic, build_value_model


class ShardedCritic(Critic):
    """A :class:`~rlvr.training.critic.Critic` whose value model is sharded with FSDP2 over the process
    group; the same values, losses, metrics and updated weights as one process."""

    def _rows(self, size: int) -> Tensor:
        return rank_share(size, dist.get_rank(), dist.get_world_size())

    def _micro_slices(self, size: int) -> list[slice | None]:
        """This rank's micro-batches, padded with None up to the largest count of any rank (at least one:
        every rank takes part in every reduce-scatter)."""
        mine: list[slice | None] = list(super()._micro_slices(size))
        most = int(all_reduce(torch.tensor([len(mine)]), dist.ReduceOp.MAX).item())
        return mine + [None] * (max(most, 1) - len(mine))

    def _sum(self, t: Tensor) -> Tensor:
        return all_reduce(t)

    def _sum_metrics(self, values: dict[str, float]) -> dict[str, float]:
        return sum_over_ranks(values)

    def _clip_gradients(self) -> Tensor:
        return full_tensor(super()._clip_gradients())


def build_sharded_critic(cfg: RunConfig, policy: torch.nn.Module) -> ShardedCritic | None:
    """The run's critic on this rank: a value model on a copy of ``policy`` (whole, on the CPU: call it
    before the policy is sharded), sharded, with its optimizer over the shards; None without ``critic:``."""
    if cfg.critic is None:
        return None
    model = shard_model(build_value_model(policy, cfg.critic), cfg.learner)
    return ShardedCritic(model, cfg.critic, cfg.trainer, cfg.trainer.steps)  # type: ignore[arg-type]
