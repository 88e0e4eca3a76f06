"""Relative-pose probe and the (observation, goal) pairs it and the supervised control use.

A pair is an episode's first view and its goal picture; its target is the goal in the agent's
frame: forward and left offsets (m) and the heading difference. The probe is ridge regression on
frozen perception features (closed form, so it is exact and seeded by the data alone), fitted on
80% of the pairs and scored on the rest: mean position error (m) and heading error (degrees).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rlvr.embodied.policies import NavPolicy

PAIR_VIEWS = ("random", "facing", "aligned")
"""How a pair's two headings are drawn (``sample_pairs``)."""


def sample_pairs(
    env: Any, n: int, seed: int = 0, facing: bool = False, view: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """n pairs spread evenly over ``env``'s mazes (each maze built once): pictures (n, 2, H, W, 3)
    uint8 and targets (n, 3) = (forward m, left m, heading difference rad) of the goal.

    ``view`` (``facing=True`` is ``view="facing"``): ``random`` keeps the episode's headings;
    ``facing``: the agent faces the goal's position within +-30 degrees and the goal picture is taken
    within +-45 degrees of the agent's heading, so the two views overlap (where no wall is between);
    ``aligned``: as ``facing`` but the goal picture is taken with the agent's heading (heading
    difference 0), so the goal view is the agent's view moved forward: relative position only.
    """
    view = view or ("facing" if facing else "random")
    if view not in PAIR_VIEWS:
        raise ValueError(f"sample_pairs: view must be one of {PAIR_VIEWS}, got {view!r}")
    pics, targets = [], []
    mazes = len(env.layouts)
    for m in range(mazes):
        env._build(m)
        rng = np.random.default_rng([seed, m])
        for _ in range(n // mazes + (m < n % mazes)):
            env.place(rng)
            if view != "random":
                d = env.goal_xz - env.xz
                env.dir = math.atan2(-d[1], d[0]) + rng.uniform(-math.pi / 6, math.pi / 6)
                spread = math.pi / 4 if view == "facing" else 0.0
                env.goal_dir = env.dir + rng.uniform(-spread, spread)
                env.goal_image = env._render(env.goal_xz, env.goal_dir)
            pics.append(env.observe())
            targets.append(env.relative_goal())
    return np.stack(pics), np.stack(targets).astype(np.float32)


def pose_features(targets: Tensor) -> Tensor:
    """(n, 3) -> (n, 4): forward, left, sin and cos of the heading difference."""
    return torch.stack([targets[:, 0], targets[:, 1], torch.sin(targets[:, 2]), torch.cos(targets[:, 2])], 1)


def pose_errors(pred: Tensor, targets: Tensor) -> dict[str, float]:
    """pred (n, 4) as pose_features; targets (n, 3). Mean position error (m), heading error (deg)."""
    pos = torch.linalg.norm(pred[:, :2] - targets[:, :2], dim=1).mean()
    dh = torch.atan2(pred[:, 2], pred[:, 3]) - targets[:, 2]
    head = torch.atan2(torch.sin(dh), torch.cos(dh)).abs().mean() * 180 / math.pi
    return {"pos_err_m": float(pos), "heading_err_deg": float(head)}


def ridge(x: Tensor, y: Tensor, lam: float = 1e-2) -> Tensor:
    """W (D+1, K) minimising |[x 1] W - y|^2 + lam |W|^2. x (n, D), y (n, K)."""
    xb = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1).double()
    a = xb.T @ xb + lam * torch.eye(xb.shape[1], dtype=xb.dtype)
    return torch.linalg.solve(a, xb.T @ y.double()).float()


@torch.no_grad()
def probe_features(feats: Tensor, targets: Tensor, train_frac: float = 0.8) -> dict[str, float]:
    """Ridge probe from features (n, F) to the relative pose; errors on the held-out part."""
    n = int(len(feats) * train_frac)
    mu, sd = feats[:n].mean(0), feats[:n].std(0) + 1e-6
    z = (feats - mu) / sd
    w = ridge(z[:n], pose_features(targets[:n]), lam=float(len(z)) * 1e-2)
    pred = torch.cat([z[n:], torch.ones(len(z) - n, 1)], 1) @ w
    return {f"probe_{k}": v for k, v in pose_errors(pred, targets[n:]).items()}


@torch.no_grad()
def probe_policy(policy: NavPolicy, env: Any, samples: int) -> dict[str, float]:
    """Probe the policy's frozen perception on ``samples`` pairs from ``env``."""
    pics, targets = sample_pairs(env, samples, seed=50_000)
    feats = torch.cat(
        [policy.features(torch.from_numpy(p)) for p in np.array_split(pics, max(1, len(pics) // 64))]
    )
    return probe_features(feats, torch.from_numpy(targets))
