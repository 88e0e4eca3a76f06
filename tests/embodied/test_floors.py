"""The ``straight`` goal placement and the blind floors (scripted LEFT^j FORWARD^k STOP, random)."""

import math

import numpy as np
import pytest

from rlvr.embodied.config import EnvConfig

from .conftest import STRAIGHT, needs_miniworld

pytestmark = needs_miniworld

CFG = EnvConfig(**STRAIGHT)


@pytest.fixture(scope="module")
def env():
    from rlvr.embodied.env import ImageNavEnv

    e = ImageNavEnv(CFG, "test", seed=3)
    yield e
    e.close()


def _turns_to_face_goal(env) -> int:
    """LEFT turns from the start heading to the goal picture's heading (a whole number by construction)."""
    j = (env.goal_dir - env.dir) / math.radians(CFG.turn_deg)
    assert j == pytest.approx(round(j), abs=1e-9)
    return round(j) % 12


def test_straight_goal_looks_along_a_free_line_from_the_start(env):
    from rlvr.embodied.env import STOP

    for e in range(6):
        env._new_episode(e)
        d = env.goal_xz - env.xz
        length = float(np.linalg.norm(d))
        assert 2.0 <= length <= 3.0
        # The goal picture's heading is the start -> goal direction (FORWARD moves by (cos, -sin)).
        assert math.atan2(-d[1], d[0]) == pytest.approx(math.remainder(env.goal_dir, 2 * math.pi), abs=1e-9)
        _turns_to_face_goal(env)
        # A free straight line: the geodesic is the straight distance up to the 0.1 m grid (8-connected).
        assert length - 0.15 <= env.geo0 <= 1.09 * length + 0.15  # 8-connected: <= 8.3% longer
    assert env.step(STOP)[4]["ep_success"] == 0.0  # 2 m or more away: STOP at once fails


def test_the_aligned_script_reaches_the_goal_and_others_are_scored(env):
    from rlvr.embodied.floors import best_scripted, scripted_walks

    success, spl, collisions = scripted_walks(env, episodes=6, turns=12, max_forward=14)
    assert success.shape == spl.shape == collisions.shape == (6, 12, 15)
    assert (np.diff(collisions, axis=2) >= 0).all()  # counts over the first k steps
    assert collisions[:, :, 0].sum() == 0
    assert collisions[:, :, -1].sum() > 0  # 14 steps in some directions of 3 m rooms hit a wall
    assert success[:, :, 0].sum() == 0  # every goal is >= 2 m away
    for e in range(6):
        env._new_episode(e)
        j = _turns_to_face_goal(env)
        k = int(np.linalg.norm(env.goal_xz - env.xz) // CFG.forward_step)  # on the free line, < 1 step short
        assert success[e, j, k] == 1.0
        assert collisions[e, j, k] == 0  # the line to the goal is free
        assert spl[e, j, k] == pytest.approx(env.geo0 / max(k * CFG.forward_step, env.geo0))
    best = best_scripted(success, spl)
    assert best["success"] == success.mean(0).max()
    assert success.mean(0)[best["turns"], best["forward"]] == best["success"]


def test_best_scripted_breaks_ties_towards_fewer_steps():
    from rlvr.embodied.floors import best_scripted

    success = np.zeros((2, 3, 4))
    success[0, 1, 2] = success[1, 2, 1] = success[0, 2, 3] = 1.0
    assert best_scripted(success, success * 0.5) == {"turns": 1, "forward": 2, "success": 0.5, "spl": 0.25}


def test_random_policy_is_seeded(env):
    from rlvr.embodied.floors import random_policy

    a = random_policy(env, episodes=5, seed=1)
    assert a == random_policy(env, episodes=5, seed=1)
    assert set(a) == {"success", "spl", "length", "collisions"}
    assert 1.0 <= a["length"] <= CFG.max_steps


def test_goal_window_slides_below_goal_min_during_the_curriculum():
    from rlvr.embodied.env import goal_window

    assert goal_window(2.0, 3.0) == (2.0, 3.0)
    assert goal_window(2.0, 2.5) == (2.0, 2.5)
    assert goal_window(2.0, 1.25) == (0.75, 1.25)
    assert goal_window(2.0, 0.25) == (0.0, 0.5)
    assert goal_window(1.0, 1.5) == (1.0, 1.5)


def test_placement_keeps_drawing_past_a_long_run_of_rejected_lines(env, monkeypatch):
    # A 160k-step run once met 100 rejected straight lines in a row (each is accepted 11-13% of the time).
    from rlvr.embodied import env as env_module

    draw, calls = env._draw_straight, []

    def rejects_150_then_draws(grid, rng, lo, hi):
        calls.append(1)
        return None if len(calls) <= 150 else draw(grid, rng, lo, hi)

    monkeypatch.setattr(env, "_draw_straight", rejects_150_then_draws)
    env.place(np.random.default_rng(0))
    assert len(calls) > 150 and 2.0 <= float(np.linalg.norm(env.goal_xz - env.xz)) <= 3.0
    monkeypatch.setattr(env, "_draw_straight", lambda *a: None)
    with pytest.raises(RuntimeError, match=f"in {env_module.PLACEMENT_TRIES} draws: lower env.goal_min"):
        env.place(np.random.default_rng(0))
