"""``build_router``: the reward router a run's config asks for, local or on the reward server."""

from __future__ import annotations

from typing import Any

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


def router_from_config(r: Any) -> RewardRouter | RemoteRewardRouter:
    """``build_router`` from a run's ``reward`` config section (``rlvr.config.RewardConfig``)."""
    return build_router(
        r.workers,
        r.timeout_s,
        r.server_url,
        sandbox=r.sandbox,
        sandbox_url=r.sandbox_url,
        retry_window_s=r.server_retry_window_s,
    )
