"""Configuration of an image-goal navigation run (``rlvr train recipes/imagenav/X.yaml``).

A recipe is an embodied one when it has a top-level ``embodied:`` section (or ``kind: imagenav``);
the CLI hands it to :func:`rlvr.embodied.train.train_main` and these models validate it.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rlvr.algorithms.config import AlgorithmConfig
from rlvr.tracking.config import TrackingConfig

log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvConfig(_Strict):
    """The image-goal task on MiniWorld mazes."""

    rows: int = Field(2, ge=1, le=8)
    """Rooms per maze column."""
    cols: int = Field(2, ge=1, le=8)
    """Rooms per maze row."""
    room_size: float = Field(3.0, gt=1)
    """Side of a square room, metres."""
    door_width: float = Field(1.0, gt=0)
    """Width of the door between two joined rooms, metres."""
    textures: list[str] = ["brick_wall", "concrete", "wood_planks"]
    """Wall textures shared by all rooms (each room draws one), so appearance alone does not name a room."""
    obs_size: int = Field(64, ge=16)
    """Height and width of the observation and goal pictures."""
    forward_step: float = Field(0.25, gt=0)
    """Metres of one FORWARD action."""
    turn_deg: float = Field(30.0, gt=0)
    """Degrees of one LEFT / RIGHT action."""
    agent_radius: float = Field(0.25, gt=0)
    """Collision radius of the agent, metres."""
    sliding: bool = True
    """A move into a wall slides along it (projected on the wall) instead of being refused (MiniWorld's default)."""
    max_steps: int = Field(80, ge=2)
    """Episode length limit; the episode then ends unsuccessful."""
    success_radius: float = Field(1.0, gt=0)
    """STOP within this geodesic distance of the goal is a success (the paper: 1 m)."""
    goal_min: float = Field(1.0, ge=0)
    """Smallest geodesic start-goal distance, metres."""
    goal_max: float = Field(4.0, gt=0)
    """Largest geodesic start-goal distance once the curriculum is over, metres."""
    goal_placement: Literal["geodesic", "straight"] = "geodesic"
    """How a start / goal pair is drawn. ``geodesic`` (the paper's): a goal pose anywhere (random heading), a
    start at a geodesic distance in range with a random heading. ``straight`` (an easier, CPU-sized
    ImageNav whose blind floor is ~1/12): the goal lies on a wall-free straight line from the start, its
    picture looks along that line, and the start heading is the line's heading plus a whole number of
    turns (uniform over the circle when 360 / turn_deg is whole), so an agent must turn until its view
    matches the goal picture's heading, then walk; a policy that ignores the pictures faces the right way
    once in 360 / turn_deg episodes."""
    curriculum_start: float = Field(4.0, gt=0)
    """Largest start-goal distance at step 0; it grows linearly to goal_max over curriculum_env_steps. Under
    goal_min + 0.5 the goals are drawn in the half metre below it (which may be under goal_min)."""
    curriculum_env_steps: int = Field(0, ge=0)
    """Env steps over which the curriculum reaches goal_max (0: no curriculum)."""
    curriculum_turns_start: int | None = Field(None, ge=0)
    """``straight`` placement with a curriculum only: the largest start heading offset from the goal
    picture's heading, in turns either way, at step 0 (0: the start faces the way the goal picture looks);
    it grows linearly to the whole circle over curriculum_env_steps, with the distance. None: uniform over
    the circle from step 0. Evaluation always uses the whole circle."""
    train_layouts: int = Field(16, ge=1)
    """Size of the fixed pool of training mazes (seeds layout_seed + 0..n-1)."""
    test_layouts: int = Field(8, ge=1)
    """Size of the held-out pool (seeds layout_seed + 100000 + 0..n-1)."""
    episodes_per_maze: int = Field(4, ge=1)
    """Consecutive episodes of one env in the same maze (rebuilding a maze costs ~20 env steps)."""
    layout_seed: int = 0
    """First maze seed."""
    success_reward: float = 10.0
    """Reward of a successful STOP (the paper's 10)."""
    slack_reward: float = -0.01
    """Reward added every step (the paper's -0.01)."""
    grid_cell: float = Field(0.1, gt=0)
    """Cell of the occupancy grid used for geodesic distances, metres."""

    @model_validator(mode="after")
    def _turn_curriculum_needs_straight(self) -> EnvConfig:
        if self.curriculum_turns_start is None:
            return self
        where = "env.curriculum_turns_start"
        if self.goal_placement != "straight":
            raise ValueError(f"{where} needs env.goal_placement: straight (got {self.goal_placement!r})")
        if not self.curriculum_env_steps:
            raise ValueError(f"{where} needs env.curriculum_env_steps > 0 (the steps over which it grows)")
        if whole_turns(self.turn_deg) is None:
            raise ValueError(f"{where} needs 360 / env.turn_deg to be whole (got turn_deg={self.turn_deg})")
        return self


def whole_turns(turn_deg: float) -> int | None:
    """Turns in a full circle when 360 / turn_deg is whole, else None."""
    turns = 360.0 / turn_deg
    return round(turns) if abs(turns - round(turns)) < 1e-6 else None


class PolicyConfig(_Strict):
    """Perception module, recurrent core and heads."""

    arch: str = "channelcat"
    """Perception module by registry name (late_fusion, channelcat, s2d_channelcat, cross_attention) or module:attr."""
    width: int = Field(16, ge=4)
    """Base channel width of the convolutional encoders (token width for cross-attention)."""
    feat_dim: int = Field(128, ge=8)
    """Size of the perception feature fed to the GRU."""
    hidden: int = Field(128, ge=8)
    """GRU hidden size."""
    init_perception: str | None = None
    """A perception weights file (``python -m rlvr.embodied.supervised --save-dir``) that starts the
    perception module; its arch, width, feat_dim and obs_size must match this policy's."""


class PPOConfig(_Strict):
    """Recurrent PPO on vectorised environments."""

    num_envs: int = Field(4, ge=1)
    """Parallel environments."""
    vector: Literal["async", "sync"] = "async"
    """Gymnasium vector env: subprocesses (async) or in-process (sync)."""
    rollout_steps: int = Field(64, ge=2)
    """Env steps per environment between updates."""
    total_env_steps: int = Field(200_000, ge=1)
    """Stop after this many env steps (summed over environments)."""
    epochs: int = Field(2, ge=1)
    """PPO epochs over each rollout."""
    minibatches: int = Field(2, ge=1)
    """Mini-batches per epoch; each is a set of whole episode chunks (rows), for the GRU."""
    lr: float = Field(2.5e-4, gt=0)
    """Adam learning rate."""
    value_coef: float = Field(0.5, ge=0)
    """Weight of the value loss."""
    entropy_coef: float = Field(0.01, ge=0)
    """Weight of the entropy bonus."""
    max_grad_norm: float = Field(0.5, gt=0)
    """Gradient clipping."""
    algorithm: AlgorithmConfig = Field(
        default_factory=lambda: AlgorithmConfig.model_validate(
            {"advantage": "gae", "gamma": 0.99, "lam": 0.95, "eps_low": 0.2, "eps_high": 0.2}
        )
    )
    """The shared objective knobs: gamma, lam, eps_low / eps_high for ppo_clip, adv_eps."""
    init_from: str | None = None
    """A checkpoint (.pt) whose perception weights start this run (the transfer run); the rest starts fresh."""
    freeze_perception: bool = False
    """Keep the perception weights fixed (with init_from or policy.init_perception)."""
    stop_on_collapse: int = Field(0, ge=0)
    """End the run early, as finished (checkpoint, held-out evaluation and probe), once at least 99% of
    the training episodes have pressed STOP as their first action (``nav/stop_at_once``) for this many
    updates in a row: PPO's STOP-at-once collapse. On the CPU task, the runs that learned never had one
    such update, two runs left the collapse after 15 and 22, and none of those followed past 100 ever
    left it (their entropy falls towards 0; docs/embodied.md). 0: train to total_env_steps regardless."""


class EvalConfig(_Strict):
    """Held-out evaluation and the relative-pose probe."""

    every_env_steps: int = Field(0, ge=0)
    """Evaluate during training every this many env steps (0: only at the end)."""
    episodes: int = Field(64, ge=1)
    """Held-out episodes per evaluation (greedy policy)."""
    probe_samples: int = Field(1024, ge=16)
    """(observation, goal) pairs for the relative-pose probe (0.8 train / 0.2 test)."""


class ImageNavConfig(_Strict):
    """A whole image-goal navigation run."""

    name: str = "imagenav"
    """Run name: the run directory is <output_dir>/<name>-<time>."""
    kind: Literal["imagenav"] = "imagenav"
    """Marks the recipe as an embodied one."""
    seed: int = 0
    """Seeds torch, the environments and the layout draws."""
    output_dir: str = "runs"
    """Parent of run directories."""
    checkpoint_every: int = Field(10, ge=1)
    """Updates between checkpoints."""
    device: str = "cpu"
    """Where the policy runs and learns (``cuda`` on a GPU machine); rollouts stay on the CPU."""
    threads: int = Field(1, ge=1)
    """torch.set_num_threads for the learner."""
    env: EnvConfig = Field(default_factory=EnvConfig)
    """The task."""
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    """The agent."""
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    """The learner."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Evaluation."""
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    """Metric sinks (metrics.jsonl always)."""


RESUME_SAFE = (
    *("name", "output_dir", "checkpoint_every", "device", "threads", "eval", "tracking"),
    *("ppo.total_env_steps", "ppo.stop_on_collapse", "ppo.vector"),
)
"""Fields that ``rlvr train --resume`` lets change: where and how long the run goes, how it is evaluated
and logged, not what it optimises (the curriculum follows env steps, not the total). ``device``,
``threads`` and ``ppo.vector`` keep the math but not every bit. Anything else needs --force-resume."""


def is_embodied_recipe(tree: dict[str, Any]) -> bool:
    """True for a recipe tree that ``rlvr train`` should hand to the embodied trainer."""
    return "embodied" in tree or tree.get("kind") == "imagenav"


def load_imagenav_config(path: str | Path, overrides: list[str] | None = None) -> ImageNavConfig:
    """Read a recipe (its ``embodied:`` section, or the whole file with ``kind: imagenav``), apply dotted
    overrides (``ppo.lr=1e-4`` or ``embodied.ppo.lr=1e-4``), validate."""
    from pydantic import ValidationError

    from rlvr.recipe_files import ConfigError, apply_override, read_recipe

    tree = read_recipe(path)
    body = dict(tree.get("embodied") or {}) if "embodied" in tree else dict(tree)
    for item in overrides or []:
        apply_override(body, item.removeprefix("embodied."))
    try:
        return ImageNavConfig.model_validate(body)
    except ValidationError as exc:
        lines = [f"invalid embodied config in {path}:"]
        for err in exc.errors():
            lines.append(f"  {'.'.join(map(str, err['loc']))}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


def check_resume_config(run_dir: Path, cfg: ImageNavConfig, force: bool) -> None:
    """Refuse (ConfigError, before any env is built) to resume ``run_dir`` with settings that change what
    it optimises (anything outside ``RESUME_SAFE``), unless forced: the run's own ``config.yaml`` is the
    reference, with the defaults of fields added since filled in."""
    import yaml

    from rlvr.recipe_files import ConfigError, changed_fields

    saved_path = run_dir / "config.yaml"
    if not saved_path.exists():
        return
    saved = yaml.safe_load(saved_path.read_text()) or {}
    with contextlib.suppress(ValueError):  # a version whose fields no longer validate: compared as saved
        saved = ImageNavConfig.model_validate(saved).model_dump(mode="json")
    problems = changed_fields(saved, cfg.model_dump(mode="json"), RESUME_SAFE)
    if not problems:
        return
    msg = f"--resume {run_dir}: this command changes what the run optimises (its {saved_path} -> now):\n  "
    msg += "\n  ".join(problems)
    if force:
        log.warning("%s\nresuming anyway (--force-resume)", msg)
        return
    raise ConfigError(
        msg + "\nGive the overrides the run was started with, start a new run (without --resume), or pass "
        "--force-resume to continue with these changes."
    )
