"""The image-goal navigation training loop: collect a rollout from vectorised envs with batched
inference, cut it into episode chunks, run recurrent PPO (rlvr's ``gae`` and ``ppo_clip``), log,
checkpoint. ``rlvr train recipes/imagenav/X.yaml`` lands in :func:`train_main`.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlvr.embodied.config import ImageNavConfig
from rlvr.embodied.curriculum import Curriculum, curriculum
from rlvr.embodied.policies import NavPolicy, build_policy, param_counts
from rlvr.embodied.ppo import Rollout, advantages, episode_chunks, ppo_loss
from rlvr.embodied.weights import load_perception, load_state, read_policy_checkpoint

log = logging.getLogger(__name__)
EPISODE_KEYS = ("success", "spl", "length", "collisions", "return", "stopped")
COLLAPSED_STOP_AT_ONCE = 0.99
"""An update counts towards ``ppo.stop_on_collapse`` when at least this share of its episodes pressed
STOP as their first action."""


class StoppedBySignal(Exception):
    """SIGINT / SIGTERM ended the run after a checkpoint; ``rlvr train ... --resume`` continues it."""

    def __init__(self, sig: signal.Signals, env_steps: int) -> None:
        super().__init__(f"stopped by {sig.name} at {env_steps:,} env steps, after a checkpoint")
        self.signal = sig


def init_perception(policy: NavPolicy, cfg: ImageNavConfig) -> None:
    """Start ``policy``'s perception from ``cfg.policy.init_perception`` (shape-checked)."""
    p, path = cfg.policy, Path(str(cfg.policy.init_perception))
    load_perception(
        policy.perception, path, arch=p.arch, width=p.width, feat_dim=p.feat_dim, obs_size=cfg.env.obs_size
    )
    print(f"rlvr train: perception weights from {path}")


def make_policy(cfg: ImageNavConfig) -> NavPolicy:
    p = cfg.policy
    return build_policy(p.arch, p.width, p.feat_dim, p.hidden, cfg.env.obs_size)


class NavTrainer:
    """Owns the envs, the policy, the optimizer and the counters of one run."""

    def __init__(self, cfg: ImageNavConfig, run_dir: Path, resume: Path | None = None) -> None:
        from rlvr.embodied.vec import make_vector_env, observe

        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.cfg, self.run_dir = cfg, run_dir
        self.device = torch.device(cfg.device)
        self.policy = make_policy(cfg).to(self.device)
        if cfg.policy.init_perception:
            init_perception(self.policy, cfg)
        if cfg.ppo.init_from:
            self._load_perception(Path(cfg.ppo.init_from))
        params = [
            p
            for n, p in self.policy.named_parameters()
            if not (cfg.ppo.freeze_perception and n.startswith("perception."))
        ]
        self.opt = torch.optim.Adam(params, lr=cfg.ppo.lr, eps=1e-5)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        n = cfg.ppo.num_envs
        self.venv = make_vector_env(cfg.env, n, cfg.seed, "train", cfg.ppo.vector)
        self.venv.reset()
        self.obs = observe(self.venv)
        self.prev_a = torch.full((n,), self.policy.num_actions, dtype=torch.long)
        self.h = torch.zeros(n, self.policy.hidden_size)
        self.env_steps, self.update = 0, 0
        self.collapse_streak = 0  # updates in a row at COLLAPSED_STOP_AT_ONCE or above
        if resume is not None:
            self.load(resume)
        counts = param_counts(self.policy)
        log.info(
            "policy %s: %d perception / %d total parameters",
            cfg.policy.arch,
            counts["perception"],
            counts["total"],
        )
        print(
            f"rlvr train: {cfg.policy.arch}: {counts['perception']:,} perception / {counts['total']:,} total parameters"
        )

    # ---- rollout ------------------------------------------------------------------------------
    def _curriculum(self) -> Curriculum:
        return curriculum(self.cfg.env, self.env_steps)

    @torch.no_grad()
    def collect(self) -> tuple[Rollout, list[dict[str, float]], dict[str, float]]:
        """T steps of every env with batched inference; the finished episodes' statistics; timings."""
        from rlvr.embodied.vec import set_curriculum

        set_curriculum(self.venv, self._curriculum())
        t_len, n = self.cfg.ppo.rollout_steps, self.cfg.ppo.num_envs
        buf: dict[str, list[Any]] = {k: [] for k in ("pic", "prev", "h", "a", "logp", "v", "r", "d")}
        episodes: list[dict[str, float]] = []
        policy_s = env_s = 0.0
        for _ in range(t_len):
            t0 = time.perf_counter()
            pic = torch.from_numpy(self.obs)
            logits, v, h_new = self._act(pic)
            probs = torch.softmax(logits[0], -1)
            a = torch.multinomial(probs, 1, generator=self.gen).squeeze(1)  # (N,)
            logp = torch.log(probs.gather(1, a[:, None]).squeeze(1))
            t1 = time.perf_counter()
            obs, r, term, trunc, info = self.venv.step(a.numpy())
            t2 = time.perf_counter()
            policy_s, env_s = policy_s + t1 - t0, env_s + t2 - t1
            done = torch.from_numpy(np.logical_or(term, trunc))
            step_vals = (
                pic,
                self.prev_a,
                self.h,
                a,
                logp,
                v[0],
                torch.as_tensor(r, dtype=torch.float32),
                done,
            )
            for k, val in zip(buf, step_vals, strict=True):
                buf[k].append(val)
            episodes += _finished(info)
            self.obs = obs
            self.h = torch.where(done[:, None], 0.0, h_new)
            self.prev_a = torch.where(done, self.policy.num_actions, a)
        _, last_v, _ = self._act(torch.from_numpy(self.obs))
        self.env_steps += t_len * n
        s = {k: torch.stack(vals) for k, vals in buf.items()}
        ro = Rollout(
            s["pic"], s["prev"], s["h"], s["a"], s["logp"], s["v"], s["r"], s["d"], last_values=last_v[0]
        )
        return ro, episodes, {"perf/policy_s": policy_s, "perf/env_s": env_s}

    def _act(self, pic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One batched policy step for all envs on the policy's device; results on the CPU."""
        dev = self.device
        out = self.policy(pic[None].to(dev), self.prev_a[None].to(dev), self.h.to(dev))
        return tuple(x.cpu() for x in out)

    # ---- update -------------------------------------------------------------------------------
    def learn(self, ro: Rollout) -> dict[str, float]:
        pcfg = self.cfg.ppo
        chunks = episode_chunks(ro, pcfg.algorithm.gamma)
        adv, returns = advantages(chunks, pcfg.algorithm)
        sums: dict[str, float] = {}
        count = 0
        for _ in range(pcfg.epochs):
            order = torch.randperm(chunks.mask.shape[0], generator=self.gen)
            for rows in order.chunk(min(pcfg.minibatches, len(order))):
                loss, metrics = ppo_loss(
                    self.policy,
                    ro,
                    chunks,
                    adv,
                    returns,
                    rows,
                    pcfg.algorithm,
                    pcfg.value_coef,
                    pcfg.entropy_coef,
                )
                self.opt.zero_grad()
                loss.backward()
                metrics["grad_norm"] = float(
                    torch.nn.utils.clip_grad_norm_(self.policy.parameters(), pcfg.max_grad_norm)
                )
                self.opt.step()
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
        return {f"train/{k}": v / count for k, v in sums.items()}

    def step(self) -> dict[str, float]:
        """One update: rollout, PPO, metrics."""
        t0 = time.perf_counter()
        ro, episodes, timing = self.collect()
        t1 = time.perf_counter()
        metrics = self.learn(ro)
        t2 = time.perf_counter()
        self.update += 1
        n_steps = ro.dones.numel()
        metrics.update(timing)
        metrics.update(
            {
                "perf/rollout_s": t1 - t0,
                "perf/update_s": t2 - t1,
                "perf/step_s": t2 - t0,
                "perf/env_steps_per_s": n_steps / (t2 - t0),
                "nav/env_steps": float(self.env_steps),
                "nav/max_goal_distance": self._curriculum().max_goal_distance,
                "nav/episodes": float(len(episodes)),
            }
        )
        metrics.update(episode_metrics(episodes))
        self.collapse_streak = collapse_streak(self.collapse_streak, metrics)
        return metrics

    # ---- checkpoints --------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        from rlvr.embodied.vec import states

        state = {
            "policy": self.policy.state_dict(),
            "opt": self.opt.state_dict(),
            "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "envs": states(self.venv),
            "prev_a": self.prev_a,
            "h": self.h,
            "env_steps": self.env_steps,
            "update": self.update,
            "collapse_streak": self.collapse_streak,
            "arch": self.cfg.policy.arch,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        from rlvr.embodied.vec import restore

        st = torch.load(path, weights_only=False, map_location="cpu")
        self.policy.load_state_dict(st["policy"])
        self.opt.load_state_dict(st["opt"])
        self.gen.set_state(st["gen"])
        torch.set_rng_state(st["torch_rng"])
        self.obs = restore(self.venv, st["envs"])
        self.prev_a, self.h = st["prev_a"], st["h"]
        self.env_steps, self.update = st["env_steps"], st["update"]
        self.collapse_streak = st.get("collapse_streak", 0)

    def _load_perception(self, path: Path) -> None:
        st = read_policy_checkpoint(path, self.cfg.policy.arch, "ppo.init_from")
        own = {k.removeprefix("perception."): v for k, v in st.items() if k.startswith("perception.")}
        load_state(self.policy.perception, own, "ppo.init_from")
        print(f"rlvr train: perception weights from {path}")

    def close(self) -> None:
        self.venv.close()


def episode_metrics(episodes: list[dict[str, float]]) -> dict[str, float]:
    """Means of the finished episodes' statistics (``nav/*``; none without episodes), with
    ``nav/stop_at_once``: the share that pressed STOP as the first action. PPO's two degenerate policies
    here show as ``nav/stopped`` near 0 (never STOP) or ``nav/stop_at_once`` near 1."""
    if not episodes:
        return {}
    out = {f"nav/{k}": float(np.mean([e[k] for e in episodes])) for k in EPISODE_KEYS}
    out["nav/stop_at_once"] = float(np.mean([e["stopped"] == 1 and e["length"] == 1 for e in episodes]))
    return out


def collapse_streak(streak: int, metrics: dict[str, float]) -> int:
    """The count of updates in a row whose episodes (at least ``COLLAPSED_STOP_AT_ONCE`` of them) pressed
    STOP at once, after the update that produced ``metrics``; an update that finished no episode keeps
    the count (a collapsed policy finishes one every step)."""
    share = metrics.get("nav/stop_at_once")
    if share is None:
        return streak
    return streak + 1 if share >= COLLAPSED_STOP_AT_ONCE else 0


def _finished(info: dict[str, Any]) -> list[dict[str, float]]:
    """Statistics of the episodes that ended in this vector step (the envs put them under ``ep_*``)."""
    if "ep_success" not in info:
        return []
    ended = np.nonzero(info["_ep_success"])[0]
    return [{k: float(info[f"ep_{k}"][i]) for k in EPISODE_KEYS} for i in ended]


def fit(
    cfg: ImageNavConfig, run_dir: Path, resume: Path | None = None, show: bool = True
) -> dict[str, float]:
    """Train to ``ppo.total_env_steps`` (or a collapse, with ``ppo.stop_on_collapse``), evaluate on
    held-out mazes; return the final metrics. SIGINT / SIGTERM end the update under way, write a
    checkpoint and raise :class:`StoppedBySignal` (no evaluation)."""
    from rlvr.embodied.evaluate import evaluate_run
    from rlvr.tracking.logger import truncate_logs
    from rlvr.tracking.sinks import build_sinks
    from rlvr.training.signals import StopSignals

    trainer = NavTrainer(cfg, run_dir, resume)
    if resume is not None:  # the stopped process's rows after the checkpoint: the resumed run redoes them
        truncate_logs(run_dir, trainer.update)
    sinks = build_sinks(cfg.tracking, run_dir, run_dir.name, cfg.model_dump(mode="json"))
    ckpt = run_dir / "checkpoints" / "latest.pt"
    last: dict[str, float] = {}
    try:
        with StopSignals() as stop:
            while trainer.env_steps < cfg.ppo.total_env_steps and stop.received is None:
                last = trainer.step()
                sinks.log(trainer.update, last)
                if show:
                    print(_line(trainer, last), flush=True)
                if trainer.update % cfg.checkpoint_every == 0:
                    trainer.save(ckpt)
                every = cfg.eval.every_env_steps
                if every and trainer.env_steps % every < cfg.ppo.rollout_steps * cfg.ppo.num_envs:
                    sinks.log(trainer.update, evaluate_run(trainer.policy, cfg, run_dir, probe=False))
                if _collapsed(trainer, last):
                    sinks.log(trainer.update, {"nav/collapsed_at_env_steps": float(trainer.env_steps)})
                    break
            trainer.save(ckpt)
    finally:
        trainer.close()
    if stop.received is not None:
        sinks.close()
        raise StoppedBySignal(stop.received, trainer.env_steps)
    final = evaluate_run(trainer.policy, cfg, run_dir, probe=True)
    sinks.log(trainer.update, final)
    sinks.close()
    return {**last, **final}


def _collapsed(trainer: NavTrainer, metrics: dict[str, float]) -> bool:
    """Whether ``ppo.stop_on_collapse`` ends the run now; says why on stdout when it does."""
    limit = trainer.cfg.ppo.stop_on_collapse
    if not limit or trainer.collapse_streak < limit:
        return False
    print(
        f"rlvr train: at least {COLLAPSED_STOP_AT_ONCE:.0%} of the episodes pressed STOP at once for "
        f"{trainer.collapse_streak} updates in a row (train/entropy {metrics.get('train/entropy', float('nan')):.4f}): "
        f"ending the run at {trainer.env_steps:,} env steps (ppo.stop_on_collapse={limit}; a larger "
        "ppo.entropy_coef made such runs learn, docs/reproductions.md)",
        flush=True,
    )
    return True


def _line(trainer: NavTrainer, m: dict[str, float]) -> str:
    sr = m.get("nav/success")
    return (
        f"update {trainer.update} env_steps {trainer.env_steps} "
        f"SR {'-' if sr is None else f'{sr:.2f}'} len {m.get('nav/length', float('nan')):.1f} "
        f"steps/s {m['perf/env_steps_per_s']:.0f} (policy {m['perf/policy_s']:.1f}s env {m['perf/env_s']:.1f}s "
        f"update {m['perf/update_s']:.1f}s)"
    )


def train_main(
    recipe: str,
    overrides: list[str],
    resume: str | None = None,
    show: bool = True,
    force_resume: bool = False,
) -> int:
    """``rlvr train`` for a recipe with an ``embodied:`` section (or ``kind: imagenav``)."""
    from rlvr.embodied.config import check_resume_config, load_imagenav_config
    from rlvr.tracking.run_dir import new_run_dir, write_config

    cfg = load_imagenav_config(recipe, overrides)
    if resume and resume != "auto":
        run_dir = Path(resume)
    elif resume == "auto":
        runs = sorted(Path(cfg.output_dir).glob(f"{cfg.name}-*"), key=lambda p: p.stat().st_mtime)
        run_dir = runs[-1] if runs else new_run_dir(cfg.output_dir, cfg.name)
    else:
        run_dir = new_run_dir(cfg.output_dir, cfg.name)
    ckpt = run_dir / "checkpoints" / "latest.pt"
    resuming = bool(resume) and ckpt.exists()
    if resuming:
        check_resume_config(run_dir, cfg, force_resume)
    write_config(run_dir, cfg)
    print(f"rlvr train: run directory {run_dir}" + (f", resuming from {ckpt}" if resuming else ""))
    try:
        final = fit(cfg, run_dir, ckpt if resuming else None, show)
    except StoppedBySignal as stopped:
        again = shlex.join(["rlvr", "train", recipe, *overrides, "--resume", str(run_dir)])
        print(f"rlvr train: {stopped}; continue with: {again}", file=sys.stderr)
        return 128 + int(stopped.signal)
    keys = [k for k in final if k.startswith("eval/")]
    print("rlvr train: " + " ".join(f"{k}={final[k]:.3f}" for k in keys))
    return 0
