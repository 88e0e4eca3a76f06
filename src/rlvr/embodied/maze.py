"""Maze layouts and geodesic distances, pure numpy (no simulator).

A layout is a grid of square rooms joined by doors along a random spanning tree (recursive
backtracking, as MiniWorld's ``Maze``). Geodesic distances come from a shortest path over an
occupancy grid: a cell is free when it lies inside a room or a door corridor and is at least the
agent's radius from every wall segment; 8-connected moves cost their length (Dijkstra).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

Rect = tuple[float, float, float, float]
"""(min_x, max_x, min_z, max_z) in metres."""


@dataclass(frozen=True)
class Layout:
    """One maze: rooms on a rows x cols grid, the doors between them, a wall texture per room."""

    rows: int
    cols: int
    room_size: float
    gap: float
    door_width: float
    doors: tuple[tuple[int, int], ...]
    """Pairs of room indices (row * cols + col) joined by a door."""
    wall_tex: tuple[str, ...]
    """One texture name per room, drawn from a small shared palette."""

    def room_rect(self, index: int) -> Rect:
        r, c = divmod(index, self.cols)
        x0, z0 = c * (self.room_size + self.gap), r * (self.room_size + self.gap)
        return (x0, x0 + self.room_size, z0, z0 + self.room_size)

    def door_rect(self, a: int, b: int) -> Rect:
        """The corridor through the gap between rooms a and b, door_width wide, centred on the wall."""
        ax0, ax1, az0, az1 = self.room_rect(min(a, b))
        half = self.door_width / 2
        if abs(a - b) == 1:  # same row: the corridor runs along x
            zc = (az0 + az1) / 2
            return (ax1, ax1 + self.gap, zc - half, zc + half)
        xc = (ax0 + ax1) / 2
        return (xc - half, xc + half, az1, az1 + self.gap)

    @cached_property
    def regions(self) -> list[Rect]:
        rooms = [self.room_rect(i) for i in range(self.rows * self.cols)]
        return rooms + [self.door_rect(a, b) for a, b in self.doors]

    @property
    def extent(self) -> tuple[float, float]:
        """(size_x, size_z) of the floor plan in metres."""
        return (
            self.cols * self.room_size + (self.cols - 1) * self.gap,
            self.rows * self.room_size + (self.rows - 1) * self.gap,
        )


def make_layout(
    seed: int,
    rows: int,
    cols: int,
    *,
    room_size: float = 3.0,
    gap: float = 0.25,
    door_width: float = 1.0,
    textures: tuple[str, ...] = ("brick_wall", "concrete", "wood_planks"),
) -> Layout:
    """A random maze (recursive backtracking from room 0), the same for the same seed."""
    rng = np.random.default_rng(seed)
    visited, doors = {0}, []
    stack = [0]
    while stack:
        cur = stack[-1]
        r, c = divmod(cur, cols)
        nbrs = [
            (r + dr) * cols + (c + dc)
            for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))
            if 0 <= r + dr < rows and 0 <= c + dc < cols and (r + dr) * cols + (c + dc) not in visited
        ]
        if not nbrs:
            stack.pop()
            continue
        nxt = nbrs[int(rng.integers(len(nbrs)))]
        visited.add(nxt)
        doors.append((min(cur, nxt), max(cur, nxt)))
        stack.append(nxt)
    wall_tex = tuple(textures[int(rng.integers(len(textures)))] for _ in range(rows * cols))
    return Layout(rows, cols, room_size, gap, door_width, tuple(doors), wall_tex)


def seg_distance(points: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest segment. points (P, 2), segs (S, 2, 2) -> (P,)."""
    a, b = segs[:, 0], segs[:, 1]  # (S, 2)
    ab = b - a
    ap = points[:, None, :] - a[None]  # (P, S, 2)
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)  # (P, S)
    closest = a[None] + t[..., None] * ab[None]  # (P, S, 2)
    return np.linalg.norm(points[:, None, :] - closest, axis=-1).min(axis=1)


@dataclass
class Grid:
    """The free cells of a floor plan and the graph of moves between them."""

    origin: np.ndarray
    """(2,) world (x, z) of cell (0, 0)'s centre."""
    cell: float
    free: np.ndarray
    """(H, W) bool: row index runs along z, column along x."""
    _graph: coo_matrix | None = field(default=None, repr=False)
    _free_cells: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def index(self, xz: np.ndarray) -> tuple[int, int]:
        """(row, col) of the cell nearest to a world point, clamped to the grid."""
        col = int(round((float(xz[0]) - self.origin[0]) / self.cell))
        row = int(round((float(xz[1]) - self.origin[1]) / self.cell))
        h, w = self.free.shape
        return min(max(row, 0), h - 1), min(max(col, 0), w - 1)

    def centre(self, row: int, col: int) -> np.ndarray:
        return self.origin + self.cell * np.array([col, row], dtype=np.float64)

    @property
    def free_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the free cells in row-major order (``np.nonzero(free)``), computed once."""
        if self._free_cells is None:
            rows, cols = np.nonzero(self.free)
            self._free_cells = rows, cols
        return self._free_cells

    @property
    def graph(self) -> coo_matrix:
        if self._graph is None:
            self._graph = _move_graph(self.free, self.cell)
        return self._graph

    def distance_field(self, goal_xz: np.ndarray) -> np.ndarray:
        """(H, W) geodesic metres from every cell to the goal's cell; inf where unreachable or blocked."""
        row, col = self.nearest_free(goal_xz)
        w = self.free.shape[1]
        dist = dijkstra(self.graph, directed=False, indices=row * w + col)
        return dist.reshape(self.free.shape)

    def nearest_free(self, xz: np.ndarray) -> tuple[int, int]:
        """The free cell nearest to a world point (the point itself may sit within a radius of a wall)."""
        row, col = self.index(xz)
        if self.free[row, col]:
            return row, col
        rows, cols = self.free_cells
        k = int(np.argmin((rows - row) ** 2 + (cols - col) ** 2))
        return int(rows[k]), int(cols[k])


def _move_graph(free: np.ndarray, cell: float) -> coo_matrix:
    """8-connected moves between free cells (a diagonal needs both side cells free)."""
    h, w = free.shape
    ids = np.arange(h * w).reshape(h, w)
    src, dst, cost = [], [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = free[max(0, -dr) : h - max(0, dr), max(0, -dc) : w - max(0, dc)]
        r0, c0 = max(0, -dr), max(0, -dc)
        b = free[r0 + dr : r0 + dr + a.shape[0], c0 + dc : c0 + dc + a.shape[1]]
        ok = a & b
        if dr and dc:  # no corner cutting
            s1 = free[r0 + dr : r0 + dr + a.shape[0], c0 : c0 + a.shape[1]]
            s2 = free[r0 : r0 + a.shape[0], c0 + dc : c0 + dc + a.shape[1]]
            ok &= s1 & s2
        ia = ids[r0 : r0 + a.shape[0], c0 : c0 + a.shape[1]][ok]
        ib = ids[r0 + dr : r0 + dr + a.shape[0], c0 + dc : c0 + dc + a.shape[1]][ok]
        src.append(ia)
        dst.append(ib)
        cost.append(np.full(ia.shape, cell * math.hypot(dr, dc)))
    n = h * w
    return coo_matrix((np.concatenate(cost), (np.concatenate(src), np.concatenate(dst))), shape=(n, n))


def build_grid(regions: list[Rect], segs: np.ndarray, radius: float, cell: float = 0.1) -> Grid:
    """Occupancy grid over the regions' bounding box. segs (S, 2, 2) wall segments in (x, z)."""
    x0 = min(r[0] for r in regions)
    x1 = max(r[1] for r in regions)
    z0 = min(r[2] for r in regions)
    z1 = max(r[3] for r in regions)
    xs = np.arange(x0 + cell / 2, x1, cell)
    zs = np.arange(z0 + cell / 2, z1, cell)
    gx, gz = np.meshgrid(xs, zs)  # (H, W)
    pts = np.stack([gx.ravel(), gz.ravel()], axis=1)  # (H*W, 2)
    inside = np.zeros(len(pts), dtype=bool)
    for rx0, rx1, rz0, rz1 in regions:
        inside |= (pts[:, 0] > rx0) & (pts[:, 0] < rx1) & (pts[:, 1] > rz0) & (pts[:, 1] < rz1)
    clear = np.zeros(len(pts), dtype=bool)
    clear[inside] = seg_distance(pts[inside], segs) >= radius
    return Grid(np.array([xs[0], zs[0]]), cell, clear.reshape(gx.shape))
