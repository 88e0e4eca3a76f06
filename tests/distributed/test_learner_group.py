"""The learner group's failure handling: a rank that dies (or raises while the others wait for it in a
collective) fails the call at once with RoleFailed, and every later call, instead of leaving the trainer
waiting for the process group's timeout."""

from __future__ import annotations

import os
import time

import pytest

ray = pytest.importorskip("ray", reason="backend: ray needs Ray: pip install 'rlvr[ray]'")

from rlvr.distributed.learner_group import LearnerGroup  # noqa: E402
from rlvr.distributed.ray_backend import RayHandle  # noqa: E402
from rlvr.training.protocols import RoleFailed  # noqa: E402

pytestmark = pytest.mark.timeout(300)


class Rank:
    """Stands for a learner rank: rank 0 'waits in a collective' (sleeps) when rank 1 fails."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def ping(self) -> bool:
        return True

    def work(self, fail: str | None) -> int:
        if fail and self.rank == 1:
            if fail == "die":
                os._exit(1)
            raise ValueError("rank 1 raised")
        if fail:
            time.sleep(600)
        return self.rank


def _group() -> LearnerGroup:
    actor = ray.remote(Rank).options(num_cpus=0)
    return LearnerGroup([RayHandle(actor.remote(i), f"learner-{i}", 0, 60) for i in range(2)])


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("fail", ["die", "raise"])
def test_a_failing_rank_breaks_the_group_at_once(fail):
    group = _group()
    assert group.call("work", None) == 0  # rank 0's result is the group's
    t0 = time.monotonic()
    with pytest.raises(RoleFailed, match="died during work" if fail == "die" else "while others waited"):
        group.call("work", fail)
    assert time.monotonic() - t0 < 30  # not the 600 s rank 0 would wait
    with pytest.raises(RoleFailed, match="the learner group is broken"):
        group.call("work", None)
    group.close()
