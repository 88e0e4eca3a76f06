"""Vectorised image-goal environments (Gymnasium's vector API), seeded, with exact resume.

Env i of a run with seed s draws its episodes from (s, i, episode index) alone, and the envs reset
themselves (autoreset disabled in the vector env), so ``states`` / ``restore`` capture everything a
checkpoint needs: restoring rebuilds each env's current episode and puts the agent back where it was.
"""

from __future__ import annotations

import multiprocessing
import signal
from functools import partial
from typing import Any, Literal

import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from rlvr.embodied.config import EnvConfig
from rlvr.embodied.curriculum import Curriculum
from rlvr.embodied.env import ImageNavEnv

Envs = AsyncVectorEnv | SyncVectorEnv
"""The vector envs ``make_vector_env`` builds (gymnasium's base ``VectorEnv`` has no ``call`` / ``set_attr``)."""


def make_vector_env(
    cfg: EnvConfig,
    num_envs: int,
    seed: int,
    split: Literal["train", "test"] = "train",
    mode: Literal["async", "sync"] = "async",
) -> Envs:
    """``num_envs`` ImageNavEnvs: subprocesses (async, shared memory) or in this process (sync)."""
    if mode == "async":
        # forkserver: the parent builds one env to read the spaces, and a forked GL context hangs
        fns = [partial(_worker_env, cfg, split, seed, i) for i in range(num_envs)]
        return AsyncVectorEnv(
            fns, shared_memory=True, autoreset_mode=AutoresetMode.DISABLED, context="forkserver"
        )
    fns = [partial(ImageNavEnv, cfg, split, seed, i) for i in range(num_envs)]
    return _SelfResettingSyncVectorEnv(fns, autoreset_mode=AutoresetMode.DISABLED)


def _worker_env(cfg: EnvConfig, split: Literal["train", "test"], seed: int, index: int) -> ImageNavEnv:
    """An env whose subprocess leaves SIGINT and SIGTERM to the trainer: a Ctrl-C reaches the whole
    process group (a scheduler's SIGTERM often does too), and the trainer ends its update, writes a
    checkpoint and closes the workers itself. In the trainer's own process (gymnasium builds one env
    there to read the spaces) the handlers are left alone."""
    if multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return ImageNavEnv(cfg, split, seed, index)


class _SelfResettingSyncVectorEnv(SyncVectorEnv):
    """SyncVectorEnv with autoreset disabled asserts that an env which ended is reset by the caller;
    ours reset themselves, so that bookkeeping is cleared after each step."""

    def step(self, actions: Any) -> Any:
        out = super().step(actions)
        self._autoreset_envs[:] = False
        return out


def states(venv: Envs) -> list[dict[str, Any]]:
    """Each env's resumable state (see ImageNavEnv.state)."""
    return list(venv.call("state"))


def restore(venv: Envs, saved: list[dict[str, Any]]) -> np.ndarray:
    """Put each env back in its saved state; return the current observations (N, 2, H, W, 3)."""
    if len(saved) != venv.num_envs:
        raise ValueError(f"checkpoint holds {len(saved)} env states, the run has num_envs={venv.num_envs}")
    venv.set_attr("state", saved)
    return observe(venv)


def observe(venv: Envs) -> np.ndarray:
    """Current observations of all envs without stepping, (N, 2, H, W, 3) uint8."""
    return np.stack(venv.call("observe"))


def set_curriculum(venv: Envs, now: Curriculum) -> None:
    """The curriculum's current bounds; they apply from each env's next episode."""
    venv.set_attr("max_goal_distance", float(now.max_goal_distance))
    venv.set_attr("max_turn_offset", now.max_turn_offset)
