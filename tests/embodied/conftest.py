import importlib.util
import os

import pytest

os.environ.setdefault("PYGLET_HEADLESS", "1")

needs_miniworld = pytest.mark.skipif(
    importlib.util.find_spec("miniworld") is None,
    reason="miniworld is not installed (pip install 'rlvr[embodied]')",
)
