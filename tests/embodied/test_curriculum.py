"""The training curriculum: start-goal distance and (``straight`` task) start heading offset in turns."""

import math

import numpy as np
import pytest

from rlvr.embodied.config import EnvConfig, load_imagenav_config
from rlvr.embodied.curriculum import Curriculum, curriculum
from rlvr.recipe_files import ConfigError

from .conftest import STRAIGHT as SMALL_TASK
from .conftest import needs_miniworld

STRAIGHT = {**SMALL_TASK, "curriculum_start": 1.0, "curriculum_env_steps": 1000}


def test_bounds_grow_linearly_to_the_full_task_then_stay():
    env = EnvConfig(**STRAIGHT, curriculum_turns_start=0)
    assert curriculum(env, 0) == Curriculum(1.0, 0.0)
    assert curriculum(env, 500) == Curriculum(2.0, 3.0)  # 12 turns a circle: halfway to 6 either way
    assert curriculum(env, 1000) == curriculum(env, 10**6) == Curriculum(3.0, 6.0)
    no_turns = EnvConfig(**STRAIGHT)
    assert curriculum(no_turns, 0) == Curriculum(1.0, None)
    assert curriculum(EnvConfig(), 123) == Curriculum(4.0, None)  # no curriculum: the full task


@pytest.mark.parametrize(
    "update, expected",
    [
        ({"goal_placement": "geodesic"}, "needs env.goal_placement: straight"),
        ({"curriculum_env_steps": 0}, "needs env.curriculum_env_steps > 0"),
        ({"turn_deg": 25.0}, "360 / env.turn_deg to be whole"),
    ],
)
def test_turn_curriculum_is_refused_where_it_means_nothing(tmp_path, update, expected):
    recipe = tmp_path / "nav.yaml"
    recipe.write_text(
        "embodied:\n  env:\n" + "".join(f"    {k}: {v}\n" for k, v in {**STRAIGHT, **update}.items())
    )
    load_imagenav_config(recipe)  # valid without the turn curriculum
    with pytest.raises(ConfigError, match=f"nav.yaml(.|\n)*{expected}"):
        load_imagenav_config(recipe, ["env.curriculum_turns_start=0"])


def _offset_turns(env) -> int:
    """Whole turns from the goal picture's heading to the start's, in -5..6."""
    j = (env.dir - env.goal_dir) / math.radians(env.cfg.turn_deg)
    assert j == pytest.approx(round(j), abs=1e-9)
    return (round(j) + 5) % 12 - 5


def _offsets(env, episodes) -> set[int]:
    """The start heading offsets (whole turns) of ``env``'s episodes ``episodes``."""
    seen = set()
    for e in episodes:
        env._new_episode(e)
        seen.add(_offset_turns(env))
    return seen


@needs_miniworld
def test_start_heading_offsets_stay_inside_the_bound_and_cover_it():
    from rlvr.embodied.env import ImageNavEnv

    env = ImageNavEnv(EnvConfig(**STRAIGHT, curriculum_turns_start=0), "train", seed=0)
    try:
        seen = {}
        for k, episodes in ((0, range(8)), (1.7, range(8, 40)), (None, range(40, 140))):
            env.max_turn_offset = k
            seen[k] = _offsets(env, episodes)
        assert seen[0] == {0}  # the start faces the way the goal picture looks
        assert seen[1.7] == {-1, 0, 1}  # bounds are whole turns, rounded down
        assert seen[None] == set(range(-5, 7))  # the whole circle
        env.max_turn_offset = 6.0  # the bound covers the circle: the same draws as no bound
        env._new_episode(3)
        at_six = (env.xz.copy(), env.dir, env.goal_dir)
        env.max_turn_offset = None
        env._new_episode(3)
        assert np.array_equal(at_six[0], env.xz) and at_six[1:] == (env.dir, env.goal_dir)
    finally:
        env.close()


@needs_miniworld
def test_heldout_env_and_resume_ignore_or_keep_the_bound_as_they_should():
    from rlvr.embodied.config import ImageNavConfig
    from rlvr.embodied.env import ImageNavEnv
    from rlvr.embodied.evaluate import heldout_env

    cfg = ImageNavConfig(env=EnvConfig(**STRAIGHT, curriculum_turns_start=0))
    held = heldout_env(cfg)
    try:
        assert held.max_turn_offset is None and held.max_goal_distance == 3.0
        assert _offsets(held, range(30)) != {0}
    finally:
        held.close()
    train = ImageNavEnv(cfg.env, "train", seed=1)
    try:
        train.max_turn_offset = 2.0
        train._new_episode(5)
        saved = train.state
        train.max_turn_offset = None
        train.state = saved
        assert train.max_turn_offset == 2.0 and abs(_offset_turns(train)) <= 2
    finally:
        train.close()
