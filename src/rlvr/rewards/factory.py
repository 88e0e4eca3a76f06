"""``build_router``: the reward router a run's config asks for, local or on the reward server."""

from __future__ import annotations

from typing import Protocol

from rlvr.rewards.client import RemoteRewardRouter
from rlvr.rewards.router import RewardRouter
from rlvr.rewards.sandbox import configure


def build_router(
    workers: int,
    timeout_s: float,
    server_url: str | None = None,
    *,
    client_timeout_s: float = 300.0,
    batch_size: int = 256,
    sandbox: str | None = None,
    sandbox_url: str | None = None,
    retry_window_s: float = 30.0,
) -> RewardRouter | RemoteRewardRouter:
    """A ``RemoteRewardRouter`` for ``server_url`` when it is set, else a local ``RewardRouter``.

    Locally, ``workers`` processes (0: in-process) with a per-call ``timeout_s``. Remotely, ``workers``
    and ``timeout_s`` are the server's business (``rlvr serve-rewards --workers N --timeout-s T``);
    ``client_timeout_s`` bounds one HTTP batch of ``batch_size`` requests and must cover the server's
    time for it, queueing included, and ``retry_window_s`` how long an unreachable server is retried. ``sandbox`` / ``sandbox_url`` choose where ``code`` runs programs in
    this process and the workers it starts (``rlvr.rewards.sandbox.configure``).
    """
    configure(sandbox, sandbox_url)
    if server_url:
        return RemoteRewardRouter(
            server_url, timeout_s=client_timeout_s, batch_size=batch_size, retry_window_s=retry_window_s
        )
    return RewardRouter(max_workers=workers, timeout_s=timeout_s)


class RewardSettings(Protocol):
    """The fields of a run's ``reward`` section that choose the router (``rlvr.config.RewardConfig``)."""

    workers: int
    timeout_s: float
    server_url: str | None
    server_retry_window_s: float
    sandbox: str
    sandbox_url: str | None


def router_for(reward: RewardSettings) -> RewardRouter | RemoteRewardRouter:
    """The router a run's ``reward`` section asks for. Training, ``rlvr eval`` and ``rlvr pseudo-label``
    all score through this one construction, so ``reward.server_url`` means the same everywhere."""
    return build_router(
        reward.workers,
        reward.timeout_s,
        reward.server_url,
        sandbox=reward.sandbox,
        sandbox_url=reward.sandbox_url,
        retry_window_s=reward.server_retry_window_s,
    )
