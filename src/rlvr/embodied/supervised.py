"""The supervised control: each perception module, trained from scratch with supervision to predict
the goal's bearing and distance (and the heading difference) from an (observation, goal) pair. No RL noise: it isolates the
architectures' inductive bias for reading relative pose from two pictures.

    python -m rlvr.embodied.supervised --pairs 2000 --archs late_fusion channelcat --seeds 0 1 2

Pairs come from the env (training mazes for fitting, held-out mazes for scoring) and are cached in
``--cache``. Reported per run: test bearing error (degrees), distance error (m), and the error of
the constant predictor (the mean) as the floor to beat.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rlvr.embodied.config import EnvConfig
from rlvr.embodied.policies import PERCEPTION, to_float
from rlvr.embodied.weights import save_perception

ARCHS = ("late_fusion", "channelcat", "s2d_channelcat", "cross_attention")


def targets_of(rel: Tensor) -> Tensor:
    """(n, 3) relative goals (forward, left, dheading) -> (n, 5) regression targets: sin and cos of
    the bearing atan2(left, forward), the distance, sin and cos of the heading difference."""
    bearing = torch.atan2(rel[:, 1], rel[:, 0])
    dist = torch.linalg.norm(rel[:, :2], dim=1)
    return torch.stack(
        [torch.sin(bearing), torch.cos(bearing), dist, torch.sin(rel[:, 2]), torch.cos(rel[:, 2])], 1
    )


def _angle_err(sin_cos_pred: Tensor, sin_cos_true: Tensor) -> float:
    d = torch.atan2(sin_cos_pred[:, 0], sin_cos_pred[:, 1]) - torch.atan2(
        sin_cos_true[:, 0], sin_cos_true[:, 1]
    )
    return float(torch.atan2(torch.sin(d), torch.cos(d)).abs().mean() * 180 / math.pi)


def errors(pred: Tensor, target: Tensor) -> dict[str, float]:
    """Mean bearing error (degrees), distance error (m), heading-difference error (degrees)."""
    return {
        "bearing_err_deg": _angle_err(pred[:, :2], target[:, :2]),
        "distance_err_m": float((pred[:, 2] - target[:, 2]).abs().mean()),
        "heading_err_deg": _angle_err(pred[:, 3:], target[:, 3:]),
    }


class PoseRegressor(nn.Module):
    def __init__(self, arch: str, width: int, feat_dim: int, size: int) -> None:
        super().__init__()
        self.perception = PERCEPTION.get(arch)(width, feat_dim, size)
        self.head = nn.Linear(feat_dim, 5)

    def forward(self, pictures: Tensor) -> Tensor:  # uint8 (B, 2, H, W, 3) -> (B, 5)
        return self.head(self.perception(*to_float(pictures)))


def make_pairs(
    cfg: EnvConfig, n: int, split: str, seed: int, cache: Path | None, view: str = "random"
) -> tuple[Tensor, Tensor]:
    """n (pictures uint8, relative goal) pairs from the split's mazes (see probe.sample_pairs), cached
    as .npz under ``cache`` (keyed by everything that changes them)."""
    from rlvr.embodied.env import ImageNavEnv
    from rlvr.embodied.probe import sample_pairs

    key = f"{cfg.rows}x{cfg.cols}_{cfg.obs_size}_{cfg.goal_min:g}-{cfg.goal_max:g}_{cfg.train_layouts}-{cfg.test_layouts}"
    path = cache / f"pairs_{split}_{n}_{seed}_{key}_{view}.npz" if cache else None
    if path is not None and path.exists():
        data = np.load(path)
        return torch.from_numpy(data["pics"]), torch.from_numpy(data["rel"])
    env = ImageNavEnv(cfg, split, seed=seed)  # type: ignore[arg-type]
    try:
        pics, rel = sample_pairs(env, n, seed, view=view)
    finally:
        env.close()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, pics=pics, rel=rel)
    return torch.from_numpy(pics), torch.from_numpy(rel)


@torch.no_grad()
def evaluate(model: nn.Module, pics: Tensor, y: Tensor) -> dict[str, float]:
    """Test errors of ``model`` on uint8 pictures (n, 2, H, W, 3) against targets (n, 5)."""
    model.eval()
    pred = torch.cat([model(p) for p in pics.split(256)])
    model.train()
    return errors(pred, y)


def train_one(
    arch: str,
    seed: int,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    *,
    epochs: int = 15,
    batch: int = 64,
    lr: float = 1e-3,
    width: int = 16,
    feat_dim: int = 128,
    save: Path | None = None,
) -> dict[str, Any]:
    """Train one perception module from scratch (Adam, constant lr); its final test errors,
    the test errors after every epoch (``history``), parameters and training seconds."""
    torch.manual_seed(seed)
    pics, rel = train
    model = PoseRegressor(arch, width, feat_dim, pics.shape[2])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    y, yt = targets_of(rel), targets_of(test[1])
    gen = torch.Generator().manual_seed(seed)
    history, seconds = [], 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(len(pics), generator=gen).split(batch):
            loss = ((model(pics[idx]) - y[idx]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds += time.perf_counter() - t0
        history.append(evaluate(model, test[0], yt))
    if save is not None:
        save_perception(
            model.perception, save, arch=arch, width=width, feat_dim=feat_dim, obs_size=pics.shape[2]
        )
    mean_pred = y.mean(0, keepdim=True).expand_as(yt)
    floor = {f"const_{k}": v for k, v in errors(mean_pred, yt).items()}
    return {
        "arch": arch,
        "seed": seed,
        **history[-1],
        **floor,
        "history": history,
        "params": sum(p.numel() for p in model.perception.parameters()),
        "seconds": seconds,
        "samples_per_s": epochs * len(pics) / max(seconds, 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    from rlvr.embodied.probe import PAIR_VIEWS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=2000, help="training pairs")
    ap.add_argument(
        "--test-pairs", type=int, default=0, help="held-out pairs (default: a quarter of --pairs)"
    )
    ap.add_argument("--archs", nargs="+", default=list(ARCHS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--cols", type=int, default=2)
    ap.add_argument("--obs-size", type=int, default=64)
    ap.add_argument("--goal-min", type=float, default=1.0)
    ap.add_argument("--goal-max", type=float, default=3.0)
    ap.add_argument("--view", choices=PAIR_VIEWS, default="random", help="how the two headings are drawn")
    ap.add_argument("--facing", action="store_true", help="same as --view facing")
    ap.add_argument("--cache", type=Path, default=Path("runs/embodied_pairs"))
    ap.add_argument("--out", type=Path, default=Path("runs/embodied_supervised.jsonl"))
    ap.add_argument(
        "--save-dir", type=Path, default=None, help="write each module's weights to DIR/ARCH_sSEED.pt"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    view = "facing" if args.facing else args.view
    cfg = EnvConfig(
        rows=args.rows, cols=args.cols, obs_size=args.obs_size, goal_min=args.goal_min, goal_max=args.goal_max
    )
    train = make_pairs(cfg, args.pairs, "train", 0, args.cache, view)
    test = make_pairs(cfg, args.test_pairs or max(64, args.pairs // 4), "test", 1, args.cache, view)
    setup = {"view": view, "pairs": args.pairs, "test_pairs": len(test[0]), "epochs": args.epochs}
    setup |= {"obs_size": args.obs_size, "goal_min": args.goal_min, "goal_max": args.goal_max}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for arch in args.archs:
            save = args.save_dir / f"{arch}_s{seed}.pt" if args.save_dir else None
            run = train_one(
                arch, seed, train, test, epochs=args.epochs, batch=args.batch, lr=args.lr, save=save
            )
            result = {**run, **setup}
            print(json.dumps({k: v for k, v in result.items() if k != "history"}), flush=True)
            with args.out.open("a") as f:
                f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
