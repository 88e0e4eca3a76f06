"""Agent motion against walls: MiniWorld's refusal (no sliding) or a slide along the wall.

MiniWorld's ``move_agent`` refuses a move whose end point is within the agent's radius of a wall:
the agent stays put. With sliding (Habitat's ``allow_sliding``, the paper's default) the move is
projected onto the direction of the wall it hits and the agent moves along the wall instead.
Pure numpy over (x, z) points and (S, 2, 2) wall segments.
"""

from __future__ import annotations

import numpy as np

from rlvr.embodied.maze import seg_distance


def collides(xz: np.ndarray, segs: np.ndarray, radius: float) -> bool:
    """True when a disc of ``radius`` at ``xz`` (2,) overlaps a segment of ``segs`` (S, 2, 2)."""
    return bool(seg_distance(xz[None], segs)[0] < radius)


def _nearest_wall_dir(xz: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """Unit direction (2,) of the segment nearest to ``xz``."""
    a, b = segs[:, 0], segs[:, 1]
    ab = b - a
    t = np.clip(((xz - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    d = np.linalg.norm(a + t[:, None] * ab - xz, axis=-1)
    k = int(np.argmin(d))
    return ab[k] / max(float(np.linalg.norm(ab[k])), 1e-12)


def move(
    xz: np.ndarray, delta: np.ndarray, segs: np.ndarray, radius: float, sliding: bool
) -> tuple[np.ndarray, bool]:
    """New position after trying to move by ``delta`` (2,); and whether the move hit a wall.

    No sliding: a colliding move leaves the agent where it was. Sliding: the move is projected on the
    wall nearest to the blocked end point, (delta . t) t, and taken if that end point is clear (else
    the agent stays, e.g. in a corner).
    """
    target = xz + delta
    if not collides(target, segs, radius):
        return target, False
    if not sliding:
        return xz.copy(), True
    t = _nearest_wall_dir(target, segs)
    slid = xz + float(delta @ t) * t
    if np.linalg.norm(slid - xz) > 1e-9 and not collides(slid, segs, radius):
        return slid, True
    return xz.copy(), True
