import math

import numpy as np
import pytest

pytest.importorskip("scipy", reason="scipy is not installed (pip install 'rlvr[embodied]')")

from rlvr.embodied.maze import build_grid, make_layout, seg_distance
from rlvr.embodied.motion import collides, move

# A 4 m x 4 m box: walls along x = 0, x = 4, z = 0, z = 4.
BOX = np.array(
    [
        [[0, 0], [4, 0]],
        [[4, 0], [4, 4]],
        [[4, 4], [0, 4]],
        [[0, 4], [0, 0]],
    ],
    dtype=np.float64,
)
R = 0.25


def test_seg_distance_exact():
    pts = np.array([[2.0, 1.0], [-1.0, -1.0], [0.5, 2.0]])
    np.testing.assert_allclose(seg_distance(pts, BOX), [1.0, math.sqrt(2), 0.5])


def test_free_move_is_identical_with_and_without_sliding():
    for sliding in (False, True):
        new, hit = move(np.array([2.0, 2.0]), np.array([0.25, 0.0]), BOX, R, sliding)
        np.testing.assert_allclose(new, [2.25, 2.0])
        assert not hit


def test_diagonal_move_into_wall_refused_without_sliding():
    start = np.array([2.0, 0.3])  # 0.05 m of clearance from the z = 0 wall
    delta = np.array([0.2, -0.2])
    new, hit = move(start, delta, BOX, R, sliding=False)
    np.testing.assert_allclose(new, start)
    assert hit


def test_diagonal_move_into_wall_slides_along_it():
    start = np.array([2.0, 0.3])
    new, hit = move(start, np.array([0.2, -0.2]), BOX, R, sliding=True)
    np.testing.assert_allclose(new, [2.2, 0.3])  # the x part of the move survives, z is dropped
    assert hit and not collides(new, BOX, R)


def test_head_on_move_into_wall_stays_even_with_sliding():
    start = np.array([2.0, 0.3])
    new, hit = move(start, np.array([0.0, -0.2]), BOX, R, sliding=True)
    np.testing.assert_allclose(new, start)
    assert hit


def test_corner_blocks_sliding():
    start = np.array([0.3, 0.3])
    new, hit = move(start, np.array([-0.2, -0.2]), BOX, R, sliding=True)
    np.testing.assert_allclose(new, start)
    assert hit


def test_layout_is_a_spanning_tree_and_seeded():
    a, b = make_layout(3, 3, 3), make_layout(3, 3, 3)
    assert a == b
    assert len(a.doors) == 8  # 9 rooms joined by a tree
    assert make_layout(4, 3, 3).doors != a.doors or make_layout(5, 3, 3).doors != a.doors


def test_geodesic_goes_around_a_wall():
    # Two 2 m rooms side by side joined by a 1 m door in the middle of x = 2; a straight wall elsewhere.
    regions = [(0.0, 2.0, 0.0, 2.0), (2.0, 4.0, 0.0, 2.0)]
    segs = np.array(
        [
            [[0, 0], [4, 0]],
            [[4, 0], [4, 2]],
            [[4, 2], [0, 2]],
            [[0, 2], [0, 0]],
            [[2, 0], [2, 0.5]],
            [[2, 1.5], [2, 2]],
        ],
        dtype=np.float64,
    )
    grid = build_grid(regions, segs, radius=0.25, cell=0.1)
    field = grid.distance_field(np.array([3.05, 0.35]))
    straight = grid.nearest_free(np.array([0.95, 0.35]))
    d = float(field[straight])
    # Euclidean 2.1 m; the path bends through the door (z between 0.75 and 1.25): at least
    # 2 * hypot(1.05, 0.4) = 2.247 m, and the 8-connected grid adds at most ~8%.
    assert 2.24 < d < 2.45
    assert math.isinf(float(field.max())) or field[grid.free].max() < 10


@pytest.mark.parametrize("rows,cols", [(2, 2), (3, 3)])
def test_every_free_cell_of_a_maze_reaches_every_other(rows, cols):
    lay = make_layout(7, rows, cols)
    x1, z1 = lay.extent
    # walls of the outer rooms only matter for clearance; use the rooms' own outlines minus doors
    segs = _walls(lay)
    grid = build_grid(lay.regions, segs, radius=0.25)
    field = grid.distance_field(grid.centre(*np.argwhere(grid.free)[0]))
    assert np.isfinite(field[grid.free]).all()


def _walls(lay):
    """Room outlines with the door openings cut out (what MiniWorld builds), for a simulator-free test."""
    segs = []
    for i in range(lay.rows * lay.cols):
        x0, x1, z0, z1 = lay.room_rect(i)
        edges = [((x0, z0), (x1, z0)), ((x1, z0), (x1, z1)), ((x1, z1), (x0, z1)), ((x0, z1), (x0, z0))]
        for (ax, az), (bx, bz) in edges:
            cuts = []
            for a, b in lay.doors:
                dx0, dx1, dz0, dz1 = lay.door_rect(a, b)
                if ax == bx and dz0 < max(az, bz) and dz1 > min(az, bz) and dx0 - 1e-9 <= ax <= dx1 + 1e-9:
                    cuts.append((dz0, dz1))
                if az == bz and dx0 < max(ax, bx) and dx1 > min(ax, bx) and dz0 - 1e-9 <= az <= dz1 + 1e-9:
                    cuts.append((dx0, dx1))
            if ax == bx:
                lo, hi = sorted((az, bz))
                pieces = _cut(lo, hi, cuts)
                segs += [[[ax, p], [ax, q]] for p, q in pieces]
            else:
                lo, hi = sorted((ax, bx))
                pieces = _cut(lo, hi, cuts)
                segs += [[[p, az], [q, az]] for p, q in pieces]
    return np.array(segs, dtype=np.float64)


def _cut(lo, hi, cuts):
    pieces, cur = [], lo
    for c0, c1 in sorted(cuts):
        if c0 > cur:
            pieces.append((cur, c0))
        cur = max(cur, c1)
    if cur < hi:
        pieces.append((cur, hi))
    return pieces
