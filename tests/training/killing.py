"""What the kill-and-resume tests share: a recipe file, a training run in its own process, a thread that
SIGKILLs it after a chosen checkpoint, and the check that two finished runs hold the same weights.

The runs are ``tests/training/resume_worker.py`` (``rlvr.cli.main``) in a subprocess, their verifier slowed
by ``RESUME_WORKER_DELAY_S`` so that a run of a few steps can be interrupted part-way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

from rlvr.training.checkpoint import MANIFEST, step_of

from .helpers import tiny_recipe

REPO = Path(__file__).resolve().parents[2]


def recipe_file(tmp_path: Path, *overrides: str) -> Path:
    """The tiny recipe with ``overrides``, one torch thread (CPU matmuls then bit-reproducible), as YAML."""
    cfg = tiny_recipe(tmp_path, *overrides)
    cfg.model.num_threads = 1
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


def start_train(tmp_path: Path, *args: str, delay_s: float) -> subprocess.Popen:
    """``rlvr train ARGS`` in a new process, its verifier slowed by ``delay_s`` per completion."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "RESUME_WORKER_DELAY_S": str(delay_s),
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [sys.executable, "-m", "tests.training.resume_worker", "--quiet", "train", *args]
    out, err = (tmp_path / "stdout.txt").open("w"), (tmp_path / "stderr.txt").open("w")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err, text=True)


def complete_steps(run: Path) -> list[int]:
    """The steps of ``run`` whose checkpoint is complete (its manifest written last)."""
    return sorted(step_of(p) for p in run.glob("checkpoints/step-*") if (p / MANIFEST).exists())


def wait_for_checkpoint(run: Path, step: int, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(s >= step for s in complete_steps(run)):
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before checkpoint {step}"
        assert time.monotonic() < deadline, f"no checkpoint {step} after {timeout_s} s"
        time.sleep(0.01)


class KillAfterCheckpoint:
    """From a thread: SIGKILL ``proc`` ``then_s`` seconds after checkpoint ``step`` of ``run`` is complete
    (``then_s`` > 0 may land in the middle of the next checkpoint's write)."""

    def __init__(self, run: Path, proc: subprocess.Popen, step: int, then_s: float, timeout_s: float = 300):
        self.proc, self.errors = proc, list[BaseException]()
        self._thread = threading.Thread(target=self._kill, args=(run, step, then_s, timeout_s), daemon=True)
        self._thread.start()

    def _kill(self, run: Path, step: int, then_s: float, timeout_s: float) -> None:
        try:
            wait_for_checkpoint(run, step, self.proc, timeout_s)
            time.sleep(then_s)
            self.proc.send_signal(signal.SIGKILL)
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)
            self.proc.kill()

    def join(self, timeout_s: float = 400, stderr: Path | None = None) -> None:
        """Wait for the kill; fail if the run ended on its own or the checkpoint never came."""
        self._thread.join(timeout=timeout_s)
        tail = stderr.read_text()[-3000:] if stderr is not None and stderr.exists() else ""
        assert not self.errors, (self.errors, tail)
        assert self.proc.wait(timeout=60) == -signal.SIGKILL, "the run must be killed before it ends"


def assert_same_weights(a: Path, b: Path, atol: float) -> None:
    """The safetensors files ``a`` and ``b`` hold the same tensors, to ``atol``."""
    left, right = load_file(a), load_file(b)
    assert left.keys() == right.keys()
    for key in left:
        torch.testing.assert_close(right[key], left[key], rtol=0, atol=atol)
