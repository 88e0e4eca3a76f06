"""The image-goal navigation environment on MiniWorld (Gymnasium API).

Observation: uint8 (2, H, W, 3), the agent's view and the goal picture (rendered from the goal pose
with the same camera). Actions: 0 FORWARD, 1 LEFT, 2 RIGHT, 3 STOP. An episode ends at STOP (success
when the geodesic distance to the goal is under ``success_radius``) or after ``max_steps``. Reward
(arXiv 2507.01667): r_t = success_reward * success - (d_t - d_{t-1}) + slack_reward, d the geodesic
distance. The env resets itself at the end of an episode (so the vector env runs with autoreset
disabled): the step that ends an episode returns the next episode's first observation, ``terminated``
True and the finished episode's statistics in ``info`` (keys ``ep_*``).

Episode k of env (seed, index) is drawn from ``numpy.random.default_rng([seed, index, k])``, and
``state`` / ``state = ...`` read and restore the position inside it, so a run resumes exactly.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlvr.embodied.config import EnvConfig, whole_turns
from rlvr.embodied.curriculum import curriculum
from rlvr.embodied.maze import Grid, Layout, build_grid, make_layout
from rlvr.embodied.motion import move

FORWARD, LEFT, RIGHT, STOP = 0, 1, 2, 3
NUM_ACTIONS = 4
TEST_SEED_OFFSET = 100_000

_Pair = tuple[np.ndarray, float, np.ndarray, float, np.ndarray]
"""(goal xz, goal heading, start xz, start heading, geodesic distance field to the goal)."""


def layout_pool(cfg: EnvConfig, split: Literal["train", "test"]) -> list[Layout]:
    """The fixed training mazes or the held-out ones (disjoint seeds)."""
    n = cfg.train_layouts if split == "train" else cfg.test_layouts
    base = cfg.layout_seed + (0 if split == "train" else TEST_SEED_OFFSET)
    return [
        make_layout(
            base + i,
            cfg.rows,
            cfg.cols,
            room_size=cfg.room_size,
            door_width=cfg.door_width,
            textures=tuple(cfg.textures),
        )
        for i in range(n)
    ]


# Draws of (start, goal) before ``place`` gives up. A "straight" draw is accepted 11-13% of the time in the
# CPU recipe's mazes (2-3 m free lines in 3 m rooms), so 100 draws failed about once in 4e5 episodes,
# which a 160k-step run met; the first draws are unchanged, so every episode placed before is the same.
PLACEMENT_TRIES = 10_000


def goal_window(goal_min: float, current_max: float) -> tuple[float, float]:
    """Start-goal distances drawn now: [goal_min, current_max], at least 0.5 m wide; while the curriculum's
    bound is under goal_min + 0.5 the window is the half metre just under it, [current_max - 0.5, current_max]."""
    if current_max >= goal_min + 0.5:
        return goal_min, current_max
    lo = min(goal_min, max(0.0, current_max - 0.5))
    return lo, lo + 0.5


def _world_class() -> type:
    """The MiniWorld world that builds a Layout (imported lazily: pyglet opens a GL context)."""
    os.environ.setdefault("PYGLET_HEADLESS", "1")
    from miniworld.miniworld import MiniWorldEnv
    from miniworld.opengl import FrameBuffer, Texture
    from miniworld.params import DEFAULT_PARAMS

    from rlvr.embodied import gl_lists

    _remember_texture_paths(Texture)
    gl_lists.install()

    class LayoutWorld(MiniWorldEnv):
        def __init__(self, layout: Layout, size: int, radius: float) -> None:
            self.layout = layout
            params = DEFAULT_PARAMS.no_random()
            params.set("bot_radius", radius)
            params.set("forward_drift", 0.0)
            super().__init__(
                max_episode_steps=10**9,
                obs_width=size,
                obs_height=size,
                window_width=size,
                window_height=size,
                params=params,
                domain_rand=False,
            )
            self.obs_fb = FrameBuffer(size, size, 1)  # no multisampling: its resolve dominates a CPU step

        def _gen_world(self) -> None:
            lay = self.layout
            rooms = []
            for i in range(lay.rows * lay.cols):
                x0, x1, z0, z1 = lay.room_rect(i)
                rooms.append(
                    self.add_rect_room(min_x=x0, max_x=x1, min_z=z0, max_z=z1, wall_tex=lay.wall_tex[i])
                )
            for a, b in lay.doors:
                x0, x1, z0, z1 = lay.door_rect(a, b)
                if abs(a - b) == 1:
                    self.connect_rooms(rooms[a], rooms[b], min_z=z0, max_z=z1)
                else:
                    self.connect_rooms(rooms[a], rooms[b], min_x=x0, max_x=x1)
            x0, x1, z0, z1 = lay.room_rect(0)
            self.place_agent(pos=np.array([(x0 + x1) / 2, 0.0, (z0 + z1) / 2]), dir=0.0)

        # MiniWorld compiles and draws every world's static geometry as display list 1; each world here
        # has a list of its own, so that several worlds in one process render their own mazes
        def _render_static(self) -> None:
            with gl_lists.own_display_list(self):
                super()._render_static()

        def _render_world(self, frame_buffer: Any, render_agent: bool) -> Any:
            with gl_lists.own_display_list(self):
                return super()._render_world(frame_buffer, render_agent)

        def close(self) -> None:
            gl_lists.release(self)
            super().close()

    return LayoutWorld


def _remember_texture_paths(texture: Any) -> None:
    """MiniWorld's Texture.get looks the texture files up on disk at every call (it never stores the
    list it builds in ``tex_paths``); remember them, which makes a maze rebuild ~20x cheaper."""
    if getattr(texture, "_rlvr_memo", False):
        return
    from miniworld.utils import get_file_path

    original = texture.get.__func__

    def get(cls: Any, tex_name: str, rng: Any = None) -> Any:
        if tex_name not in cls.tex_paths:
            paths = []
            for i in range(1, 10):
                path = get_file_path("textures", f"{tex_name}_{i}", "png")
                if not os.path.exists(path):
                    break
                paths.append(path)
            cls.tex_paths[tex_name] = paths
        return original(cls, tex_name, rng)

    texture.get = classmethod(get)
    texture._rlvr_memo = True


class ImageNavEnv(gym.Env):
    """Image-goal navigation in a pool of MiniWorld mazes (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self, cfg: EnvConfig, split: Literal["train", "test"] = "train", seed: int = 0, index: int = 0
    ) -> None:
        self.cfg, self.split, self.seed_, self.index = cfg, split, seed, index
        s = cfg.obs_size
        self.observation_space = gym.spaces.Box(0, 255, (2, s, s, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.layouts = layout_pool(cfg, split)
        start = curriculum(cfg, 0)  # training envs start where the curriculum does; set_curriculum moves them
        self.max_goal_distance = start.max_goal_distance
        self.max_turn_offset = start.max_turn_offset  # None: the whole circle
        self._grids: dict[int, Grid] = {}
        self._world: Any = None
        self._layout_id = -1
        self.episode = -1
        self._new_episode(0)

    # ---- episode generation -------------------------------------------------------------------
    def _build(self, layout_id: int) -> None:
        if self._world is None:
            self._world = _world_class()(self.layouts[layout_id], self.cfg.obs_size, self.cfg.agent_radius)
        elif layout_id != self._layout_id:
            self._world.layout = self.layouts[layout_id]
            self._world.reset()
        self._layout_id = layout_id
        self.segs = np.asarray(self._world.wall_segs)[:, :, [0, 2]].astype(np.float64)  # (S, 2, 2)
        if layout_id not in self._grids:
            self._grids[layout_id] = build_grid(
                self.layouts[layout_id].regions, self.segs, self.cfg.agent_radius, self.cfg.grid_cell
            )

    def _new_episode(self, k: int) -> None:
        """Draw episode k: a maze (the same for episodes_per_maze episodes in a row), then poses."""
        split = 0 if self.split == "train" else 1
        maze_rng = np.random.default_rng([self.seed_, self.index, k // self.cfg.episodes_per_maze, split, 1])
        self._build(int(maze_rng.integers(len(self.layouts))))
        self.episode = k
        self.place(np.random.default_rng([self.seed_, self.index, k, split]))

    def place(self, rng: np.random.Generator) -> None:
        """In the current maze, a goal pose and a start pose at a distance in range (``goal_placement``)."""
        grid = self._grids[self._layout_id]
        lo, hi = goal_window(self.cfg.goal_min, self.max_goal_distance)
        draw = self._draw_straight if self.cfg.goal_placement == "straight" else self._draw_geodesic
        for _ in range(PLACEMENT_TRIES):
            pair = draw(grid, rng, lo, hi)
            if pair is not None:
                break
        else:
            raise RuntimeError(
                f"no start {lo}-{hi} m from a goal in layout {self._layout_id} ({self.split}) in "
                f"{PLACEMENT_TRIES} draws: lower env.goal_min / env.goal_max or enlarge env.room_size"
            )
        goal, goal_dir, start, start_dir, self.field = pair
        self.goal_xz, self.goal_dir = goal, goal_dir
        self.goal_image = self._render(self.goal_xz, self.goal_dir)
        self.xz, self.dir = start, start_dir
        self.steps, self.collisions, self.path_len, self.ep_return = 0, 0, 0.0, 0.0
        self.geo0 = self.prev_geo = self.geodesic(self.xz)

    @staticmethod
    def _draw_geodesic(grid: Grid, rng: np.random.Generator, lo: float, hi: float) -> _Pair | None:
        """A goal cell, then a start cell lo..hi m geodesic from it; both headings uniform."""
        free_r, free_c = grid.free_cells
        g = int(rng.integers(len(free_r)))
        goal = grid.centre(free_r[g], free_c[g])
        field = grid.distance_field(goal)
        ok = np.nonzero(grid.free & (field >= lo) & (field <= hi))
        if not len(ok[0]):
            return None
        s = int(rng.integers(len(ok[0])))
        start = grid.centre(ok[0][s], ok[1][s])
        goal_dir = float(rng.uniform(-math.pi, math.pi))
        return goal, goal_dir, start, float(rng.uniform(-math.pi, math.pi)), field

    def _draw_straight(self, grid: Grid, rng: np.random.Generator, lo: float, hi: float) -> _Pair | None:
        """A start cell, a heading and a length lo..hi m whose straight segment stays on free cells; the
        goal at its end looks along it; the start faces it turned by a uniform whole number of turns."""
        free_r, free_c = grid.free_cells
        s = int(rng.integers(len(free_r)))
        start = grid.centre(free_r[s], free_c[s])
        heading, length = float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(lo, hi))
        unit = np.array([math.cos(heading), -math.sin(heading)])  # FORWARD's direction at that heading
        goal = start + length * unit
        for t in np.arange(0.0, length + 1e-9, grid.cell / 2):
            row, col = grid.index(start + t * unit)
            if not grid.free[row, col]:
                return None
        turns = whole_turns(self.cfg.turn_deg)
        if turns is None:
            start_dir = float(rng.uniform(-math.pi, math.pi))
        else:
            start_dir = heading + math.radians(self.cfg.turn_deg) * self._turn_offset(rng, turns)
        return goal, heading, start, start_dir, grid.distance_field(goal)

    def _turn_offset(self, rng: np.random.Generator, turns: int) -> int:
        """Whole turns between the goal picture's heading and the start's: uniform over the circle, or
        over -k..k while the turn curriculum's bound k = max_turn_offset covers less than the circle."""
        k = None if self.max_turn_offset is None else int(self.max_turn_offset)
        if k is None or 2 * k + 1 >= turns:
            return int(rng.integers(turns))
        return int(rng.integers(-k, k + 1))

    def geodesic(self, xz: np.ndarray) -> float:
        """Geodesic metres from ``xz`` to the goal (grid shortest path)."""
        grid = self._grids[self._layout_id]
        return float(self.field[grid.nearest_free(xz)])

    def _render(self, xz: np.ndarray, heading: float) -> np.ndarray:
        agent = self._world.agent
        agent.pos = np.array([xz[0], 0.0, xz[1]])
        agent.dir = heading
        return np.asarray(self._world.render_obs(), dtype=np.uint8).copy()  # (H, W, 3)

    def relative_goal(self) -> np.ndarray:
        """The goal in the agent's frame: (forward m, left m, heading difference rad in (-pi, pi])."""
        d = self.goal_xz - self.xz
        fwd = np.array([math.cos(self.dir), -math.sin(self.dir)])
        left = np.array([-math.sin(self.dir), -math.cos(self.dir)])
        dh = math.atan2(math.sin(self.goal_dir - self.dir), math.cos(self.goal_dir - self.dir))
        return np.array([float(d @ fwd), float(d @ left), dh])

    def observe(self) -> np.ndarray:
        """(2, H, W, 3) uint8: the current view and the goal picture."""
        return np.stack([self._render(self.xz, self.dir), self.goal_image])

    # ---- Gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.seed_ = seed
            self._new_episode(0)
        return self.observe(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        cfg, action = self.cfg, int(action)
        self.steps += 1
        success = False
        if action == FORWARD:
            delta = cfg.forward_step * np.array([math.cos(self.dir), -math.sin(self.dir)])
            new, hit = move(self.xz, delta, self.segs, cfg.agent_radius, cfg.sliding)
            self.path_len += float(np.linalg.norm(new - self.xz))
            self.collisions += int(hit)
            self.xz = new
        elif action in (LEFT, RIGHT):
            self.dir += math.radians(cfg.turn_deg) * (1 if action == LEFT else -1)
        geo = self.geodesic(self.xz)
        if action == STOP:
            success = geo < cfg.success_radius
        reward = cfg.success_reward * success - (geo - self.prev_geo) + cfg.slack_reward
        self.prev_geo = geo
        self.ep_return += reward
        done = action == STOP or self.steps >= cfg.max_steps
        info: dict[str, Any] = {}
        if done:
            spl = success * self.geo0 / max(self.path_len, self.geo0, 1e-9)
            info = {
                "ep_success": float(success),
                "ep_spl": float(spl),
                "ep_length": float(self.steps),
                "ep_stopped": float(action == STOP),
                "ep_collisions": float(self.collisions),
                "ep_return": self.ep_return,
                "ep_geo0": self.geo0,
                "ep_final_geo": geo,
            }
            self._new_episode(self.episode + 1)
        return self.observe(), float(reward), bool(done), False, info

    # ---- exact resume -------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        """Where this env stands: enough to rebuild the same episode at the same step."""
        return {
            "episode": self.episode,
            "xz": self.xz.tolist(),
            "dir": self.dir,
            "steps": self.steps,
            "collisions": self.collisions,
            "path_len": self.path_len,
            "ep_return": self.ep_return,
            "prev_geo": self.prev_geo,
            "max_goal_distance": self.max_goal_distance,
            "max_turn_offset": self.max_turn_offset,
            "seed": self.seed_,
        }

    @state.setter
    def state(self, st: dict[str, Any]) -> None:
        self.seed_, self.max_goal_distance = st["seed"], st["max_goal_distance"]
        self.max_turn_offset = st.get("max_turn_offset", self.cfg.curriculum_turns_start)
        self._new_episode(st["episode"])
        self.xz, self.dir = np.array(st["xz"], dtype=np.float64), st["dir"]
        self.steps, self.collisions, self.path_len = st["steps"], st["collisions"], st["path_len"]
        self.ep_return, self.prev_geo = st["ep_return"], st["prev_geo"]

    def close(self) -> None:
        if self._world is not None:
            self._world.close()
            self._world = None
