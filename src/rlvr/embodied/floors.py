"""Floors a trained image-goal agent must beat: policies that never look at the pictures.

A *blind scripted* policy turns LEFT ``j`` times, walks FORWARD ``k`` times, then STOPs, whatever it
sees. Turning does not move the agent, so one walk per (episode, j) scores every k at once: the
geodesic distance after each FORWARD decides a STOP there. The family over all j (a whole circle of
turns) and k = 0..K bounds what any open-loop policy achieves on those episodes; its best member is
the floor. A *random* policy draws each action uniformly (it STOPs after ~4 steps).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from rlvr.embodied.motion import move


class Walks(NamedTuple):
    """Scores of the scripted family, each (episodes, turns, max_forward + 1): [e, j, k] is episode e when
    the policy turns j times, walks k steps and STOPs."""

    success: np.ndarray
    spl: np.ndarray
    collisions: np.ndarray
    """Walls hit over the k steps."""


def scripted_walks(env: Any, episodes: int, turns: int, max_forward: int) -> Walks:
    """Success, SPL and collisions of every LEFT^j FORWARD^k STOP (j < turns, k <= max_forward) on
    ``env``'s episodes 0..episodes-1, with the env's motion, sliding and success rule."""
    cfg = env.cfg
    success = np.zeros((episodes, turns, max_forward + 1))
    spl, collisions = np.zeros_like(success), np.zeros_like(success)
    for e in range(episodes):
        env._new_episode(e)
        start, start_dir, geo0 = env.xz.copy(), env.dir, env.geo0
        for j in range(turns):
            heading = start_dir + math.radians(cfg.turn_deg) * j
            step = cfg.forward_step * np.array([math.cos(heading), -math.sin(heading)])
            xz, path, hits = start.copy(), 0.0, 0
            for k in range(max_forward + 1):
                if k:
                    new, hit = move(xz, step, env.segs, cfg.agent_radius, cfg.sliding)
                    path += float(np.linalg.norm(new - xz))
                    hits += int(hit)
                    xz = new
                ok = env.geodesic(xz) < cfg.success_radius
                success[e, j, k] = float(ok)
                spl[e, j, k] = ok * geo0 / max(path, geo0, 1e-9)
                collisions[e, j, k] = hits
    return Walks(success, spl, collisions)


def best_scripted(success: np.ndarray, spl: np.ndarray) -> dict[str, float]:
    """The member of the scripted family with the highest mean success (ties: fewest steps)."""
    sr = success.mean(0)  # (J, K+1)
    flat = int(np.argmax(sr.ravel()))  # first maximum: smallest j, then smallest k
    j, k = divmod(flat, sr.shape[1])
    return {"turns": j, "forward": k, "success": float(sr[j, k]), "spl": float(spl.mean(0)[j, k])}


def random_policy(env: Any, episodes: int, seed: int) -> dict[str, float]:
    """Mean success / SPL / length / collisions of uniformly random actions on episodes 0..episodes-1."""
    rng = np.random.default_rng(seed)
    env._new_episode(0)
    stats: list[dict[str, float]] = []
    while len(stats) < episodes:
        _, _, done, _, info = env.step(int(rng.integers(env.action_space.n)))
        if done:
            stats.append(info)
    return {
        m: float(np.mean([s[f"ep_{m}"] for s in stats])) for m in ("success", "spl", "length", "collisions")
    }
