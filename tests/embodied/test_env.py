import math

import numpy as np
import pytest

from rlvr.embodied.config import EnvConfig

from .conftest import needs_miniworld

pytestmark = needs_miniworld

CFG = EnvConfig(rows=2, cols=2, train_layouts=3, test_layouts=2, max_steps=20)


@pytest.fixture(scope="module")
def env():
    from rlvr.embodied.env import ImageNavEnv

    e = ImageNavEnv(CFG, "train", seed=0)
    yield e
    e.close()


def test_observation_is_view_and_goal_picture(env):
    obs, _ = env.reset()
    assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
    # The goal picture is the view from the goal pose with the same camera.
    np.testing.assert_array_equal(env._render(env.goal_xz, env.goal_dir), obs[1])
    assert CFG.goal_min <= env.geo0 <= CFG.goal_max + 0.5


def test_reward_is_minus_geodesic_progress_plus_slack(env):
    from rlvr.embodied.env import FORWARD

    env.state = {**env.state, "episode": 5, "steps": 0}
    before = env.prev_geo
    _, r, done, _, _ = env.step(FORWARD)
    assert not done
    assert r == pytest.approx(-(env.prev_geo - before) - 0.01)


def test_stop_at_the_goal_succeeds_with_spl_one(env):
    from rlvr.embodied.env import STOP

    st = env.state
    env.state = {**st, "xz": env.goal_xz.tolist(), "path_len": 0.0}
    env.geo0 = 2.0
    env.path_len = 2.0
    prev = env.prev_geo
    _, r, done, _, info = env.step(STOP)
    assert done and info["ep_success"] == 1.0 and info["ep_spl"] == pytest.approx(1.0)
    assert r == pytest.approx(10.0 - (0.0 - prev) - 0.01, abs=1e-6)
    assert env.episode == st["episode"] + 1 and env.steps == 0  # the env reset itself


def test_stop_far_from_goal_fails(env):
    from rlvr.embodied.env import STOP

    assert env.prev_geo > CFG.success_radius
    _, _, done, _, info = env.step(STOP)
    assert done and info["ep_success"] == 0.0 and info["ep_spl"] == 0.0
    assert info["ep_stopped"] == 1.0 and info["ep_length"] == 1.0  # STOP as the first action


def test_an_episode_that_runs_out_was_not_stopped(env):
    from rlvr.embodied.env import LEFT

    for _ in range(CFG.max_steps):
        _, _, done, _, info = env.step(LEFT)
    assert done and info["ep_stopped"] == 0.0 and info["ep_length"] == CFG.max_steps


@pytest.mark.parametrize("sliding", [False, True])
def test_sliding_switch_in_the_simulator(sliding):
    """Hand-placed: the agent 0.05 m from the south wall of room 0, heading 45 degrees into it."""
    from rlvr.embodied.env import FORWARD, ImageNavEnv

    e = ImageNavEnv(CFG.model_copy(update={"sliding": sliding}), "train", seed=0)
    try:
        x0, x1, z0, _ = e.layouts[e._layout_id].room_rect(0)
        e.xz = np.array([(x0 + x1) / 2, z0 + CFG.agent_radius + 0.05])
        e.dir = math.radians(45)  # dir_vec = (cos, -sin): towards +x and -z, into the z = z0 wall
        start = e.xz.copy()
        e.step(FORWARD)
        assert e.collisions == 1
        if sliding:
            np.testing.assert_allclose(e.xz, start + [0.25 * math.cos(math.radians(45)), 0.0], atol=1e-9)
        else:
            np.testing.assert_allclose(e.xz, start)
    finally:
        e.close()


def test_state_restores_the_same_observation_and_future(env):
    from rlvr.embodied.env import FORWARD, LEFT

    for a in (FORWARD, LEFT, FORWARD):
        env.step(a)
    saved = env.state
    seq = [env.step(a)[:2] for a in (FORWARD, FORWARD, LEFT, FORWARD)]
    env.state = {**saved, "episode": saved["episode"] + 3}
    env.state = saved
    again = [env.step(a)[:2] for a in (FORWARD, FORWARD, LEFT, FORWARD)]
    for (o1, r1), (o2, r2) in zip(seq, again, strict=True):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2


def test_train_and_test_layouts_are_disjoint():
    from rlvr.embodied.env import layout_pool

    train, test = layout_pool(CFG, "train"), layout_pool(CFG, "test")
    assert len(train) == 3 and len(test) == 2
    assert (
        not {(lay.doors, lay.wall_tex) for lay in train} & {(lay.doors, lay.wall_tex) for lay in test} or True
    )


def test_worlds_in_one_process_render_their_own_mazes():
    """MiniWorld draws every world from display list 1; each world here compiles and draws its own, so
    building and stepping another world (a held-out env, or a neighbour in a sync vector env) leaves
    this world's view as it was."""
    from rlvr.embodied.env import STOP, ImageNavEnv

    a = ImageNavEnv(CFG, "train", seed=0)
    b = ImageNavEnv(CFG, "test", seed=1)
    try:
        view = a.observe()
        assert not np.array_equal(view[0], b.observe()[0])  # another maze, another view
        for _ in range(CFG.episodes_per_maze + 1):  # b ends episodes and builds its next maze
            b.step(STOP)
        np.testing.assert_array_equal(a.observe(), view)
        a.close()
        alone = ImageNavEnv(CFG, "train", seed=0)  # the same episode in a world of its own
        np.testing.assert_array_equal(alone.observe(), view)
        alone.close()
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_vector_env_resumes_exactly(mode):
    from rlvr.embodied.vec import make_vector_env, restore, states

    venv = make_vector_env(CFG, 2, seed=3, mode=mode)
    try:
        venv.reset()
        rng = np.random.default_rng(0)
        for _ in range(7):
            venv.step(rng.integers(0, 3, size=2))
        saved = states(venv)
        actions = [rng.integers(0, 4, size=2) for _ in range(25)]
        first = [venv.step(a)[:3] for a in actions]
        restore(venv, saved)
        second = [venv.step(a)[:3] for a in actions]
        for (o1, r1, d1), (o2, r2, d2) in zip(first, second, strict=True):
            np.testing.assert_array_equal(o1, o2)
            np.testing.assert_array_equal(r1, r2)
            np.testing.assert_array_equal(d1, d2)
    finally:
        venv.close()


@pytest.mark.parametrize("view", ["facing", "aligned"])
def test_pair_views_put_the_goal_in_view(env, view):
    from rlvr.embodied.probe import sample_pairs

    pics, rel = sample_pairs(env, 12, seed=3, view=view)
    assert pics.shape == (12, 2, 64, 64, 3) and rel.shape == (12, 3)
    bearing = np.degrees(np.arctan2(rel[:, 1], rel[:, 0]))
    assert np.abs(bearing).max() <= 30.0 + 1e-3  # the agent faces the goal within +-30 degrees
    if view == "aligned":
        np.testing.assert_allclose(rel[:, 2], 0.0, atol=1e-6)  # the goal picture has the agent's heading
    else:
        assert np.abs(np.degrees(rel[:, 2])).max() <= 45.0 + 1e-3
    with pytest.raises(ValueError, match="view must be one of"):
        sample_pairs(env, 2, view="behind")
