"""Held-out evaluation: success rate, SPL and collisions on test mazes, an image strip of a
successful episode (``<run_dir>/media/episode_strip.png``, shown by ``rlvr report``), and the
relative-pose probe next to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlvr.embodied.config import ImageNavConfig
from rlvr.embodied.policies import NavPolicy

EVAL_SEED = 7_777


@torch.no_grad()
def run_episodes(
    policy: NavPolicy, env: Any, episodes: int, seed: int = EVAL_SEED
) -> tuple[list[dict[str, float]], list[np.ndarray]]:
    """``episodes`` episodes of ``env`` with actions sampled from the policy (a seeded generator);
    their statistics, and the frames (goal first) of the first successful one."""
    gen = torch.Generator().manual_seed(seed)
    dev = next(policy.parameters()).device
    obs = env.observe()
    prev = torch.tensor([[policy.num_actions]], device=dev)
    h = torch.zeros(1, policy.hidden_size, device=dev)
    stats: list[dict[str, float]] = []
    frames: list[np.ndarray] = [obs[1], obs[0]]
    strip: list[np.ndarray] = []
    while len(stats) < episodes:
        logits, _, h = policy(torch.from_numpy(obs)[None, None].to(dev), prev, h)
        a = torch.multinomial(torch.softmax(logits[0, 0].cpu(), -1), 1, generator=gen)
        obs, _, done, _, info = env.step(int(a))
        if done:
            stats.append({k.removeprefix("ep_"): float(v) for k, v in info.items()})
            if not strip and info["ep_success"]:
                strip = frames
            frames = [obs[1], obs[0]]
            h = torch.zeros_like(h)
            prev = torch.tensor([[policy.num_actions]], device=dev)
        else:
            frames.append(obs[0])
            prev = a.view(1, 1).to(dev)
    return stats, strip


def save_strip(frames: list[np.ndarray], path: Path, max_frames: int = 12) -> Path:
    """Goal picture, then up to ``max_frames`` evenly spaced views, side by side, 2x upscaled."""
    from PIL import Image

    goal, views = frames[0], frames[1:]
    keep = np.unique(np.linspace(0, len(views) - 1, min(max_frames, len(views))).round().astype(int))
    sep = np.full((goal.shape[0], 4, 3), 255, dtype=np.uint8)
    row = np.concatenate([goal, sep * 0] + [np.concatenate([views[i], sep], 1) for i in keep], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(row).resize((row.shape[1] * 2, row.shape[0] * 2), Image.Resampling.NEAREST).save(path)
    return path


def heldout_env(cfg: ImageNavConfig, max_goal_distance: float | None = None) -> Any:
    """The held-out ImageNavEnv every evaluation and floor uses: test mazes, the eval seed, the full task
    (start-goal distances up to ``max_goal_distance``, default env.goal_max; headings over the whole
    circle), at episode 0."""
    from rlvr.embodied.env import ImageNavEnv

    env = ImageNavEnv(cfg.env, "test", seed=cfg.seed + EVAL_SEED)
    env.max_goal_distance = max_goal_distance or cfg.env.goal_max
    env.max_turn_offset = None
    env._new_episode(0)
    return env


def evaluate_run(
    policy: NavPolicy,
    cfg: ImageNavConfig,
    run_dir: Path | None,
    probe: bool,
    max_goal_distance: float | None = None,
) -> dict[str, float]:
    """Held-out SR / SPL / collisions (``eval/heldout/*``) with start-goal distances up to
    ``max_goal_distance`` (default env.goal_max), the strip (into ``run_dir``, if given), and
    (``probe``) the pose probe."""
    policy.eval()
    env = heldout_env(cfg, max_goal_distance)
    try:
        stats, strip = run_episodes(policy, env, cfg.eval.episodes)
        out = {
            f"eval/heldout/{k}": float(np.mean([s[k] for s in stats]))
            for k in ("success", "spl", "collisions", "length")
        }
        if strip and run_dir is not None:
            save_strip(strip, run_dir / "media" / "episode_strip.png")
        if probe:
            from rlvr.embodied.probe import probe_policy

            out.update(
                {f"eval/heldout/{k}": v for k, v in probe_policy(policy, env, cfg.eval.probe_samples).items()}
            )
    finally:
        env.close()
        policy.train()
    return out


def eval_main(
    recipe: str, overrides: list[str], model: str | None, output: str | None, run_dir: str | None
) -> dict[str, float]:
    """``rlvr eval`` for an image-goal recipe: the policy of a training checkpoint (``model``: a run
    directory or a ``.pt``) on the recipe's held-out mazes, under the recipe's env settings (so a policy
    trained with sliding can be evaluated without it); SR, SPL, collisions and the pose probe."""
    import json

    from rlvr.embodied.config import load_imagenav_config
    from rlvr.embodied.train import make_policy
    from rlvr.embodied.weights import load_state, read_policy_checkpoint
    from rlvr.recipe_files import ConfigError
    from rlvr.tracking.logger import append_to_run

    cfg = load_imagenav_config(recipe, overrides)
    if not model:
        raise ConfigError(
            "--model: give the policy to evaluate: a run directory or its checkpoints/latest.pt"
        )
    if run_dir and not (Path(run_dir) / "metrics.jsonl").is_file():
        raise ConfigError(f"--run-dir: {run_dir} has no metrics.jsonl (give a run directory)")
    state = read_policy_checkpoint(Path(model), cfg.policy.arch, "--model")
    torch.set_num_threads(cfg.threads)
    policy = make_policy(cfg)
    load_state(policy, state, "--model")
    metrics = evaluate_run(policy, cfg, Path(run_dir) if run_dir else None, probe=True)
    if output:
        Path(output).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    if run_dir:
        append_to_run(Path(run_dir), metrics)
    return metrics
