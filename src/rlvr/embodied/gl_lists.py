"""One OpenGL display list per MiniWorld world, so that worlds in one process render their own mazes.

MiniWorld compiles a world's static geometry (rooms, walls, textures, lights) into display list 1 and
draws list 1 for every view (``MiniWorldEnv._render_static`` / ``_render_world``). All worlds of a
process share one GL context, so with several in one process (a sync vector env, or the training envs
and the held-out env) every world draws the maze that was compiled last: an agent would walk in its
own maze and see another one. Here each world gets a list name of its own from ``glGenLists``, and
while that world compiles or draws, MiniWorld's calls on list 1 go to it:

    with own_display_list(world):
        super()._render_static()      # glNewList(1) compiles into the world's own list

The redirect is installed once into MiniWorld's module namespace and is the identity outside the
block, so MiniWorld's own worlds (one a process, as it assumes) behave as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

MINIWORLD_LIST = 1
"""The display list name MiniWorld hard-codes."""

_active: list[int] = []
"""The list name of the world inside ``own_display_list`` (a stack, so nested blocks restore)."""


def _name(list_id: int) -> int:
    return _active[-1] if _active and list_id == MINIWORLD_LIST else list_id


def install() -> None:
    """Route MiniWorld's display list calls through ``_name`` (once a process)."""
    import miniworld.miniworld as mw
    from pyglet import gl

    if getattr(mw, "_rlvr_own_lists", False):
        return
    mw.glNewList = lambda list_id, mode: gl.glNewList(_name(list_id), mode)
    mw.glCallList = lambda list_id: gl.glCallList(_name(list_id))
    # MiniWorld deletes list 1 before compiling it again; glNewList replaces a list's contents, and a
    # deleted name could be handed to another world by glGenLists, so a world's own name is kept
    mw.glDeleteLists = lambda list_id, n: (
        None if _active and list_id == MINIWORLD_LIST else gl.glDeleteLists(list_id, n)
    )
    mw._rlvr_own_lists = True


@contextlib.contextmanager
def own_display_list(world: Any) -> Iterator[None]:
    """Inside the block, MiniWorld's list 1 is ``world``'s own list (allocated on first use)."""
    from pyglet import gl

    if getattr(world, "_rlvr_list", 0) == 0:
        world._rlvr_list = int(gl.glGenLists(1))
        if world._rlvr_list == 0:
            raise RuntimeError("glGenLists returned 0: no GL context, or no display list names left")
    _active.append(world._rlvr_list)
    try:
        yield
    finally:
        _active.pop()


def release(world: Any) -> None:
    """Free ``world``'s list name (when the world closes)."""
    from pyglet import gl

    name = getattr(world, "_rlvr_list", 0)
    if name:
        gl.glDeleteLists(name, 1)
        world._rlvr_list = 0
