import importlib.util
import os

import pytest

os.environ.setdefault("PYGLET_HEADLESS", "1")

needs_miniworld = pytest.mark.skipif(
    importlib.util.find_spec("miniworld") is None,
    reason="miniworld is not installed (pip install 'rlvr[embodied]')",
)

# A small ``straight`` task (2x2 rooms, 16-pixel views): the floors' and the curriculum's tests.
STRAIGHT = dict(
    rows=2,
    cols=2,
    obs_size=16,
    train_layouts=2,
    test_layouts=2,
    max_steps=20,
    goal_placement="straight",
    goal_min=2.0,
    goal_max=3.0,
    success_radius=0.5,
)
