"""Kill a training process at a random moment and resume it; stop one with a signal.

The training processes run ``tests/training/resume_worker.py`` (``rlvr.cli.main``). Exit codes of a run
that a signal stopped cleanly: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), the shell's
convention, so that a job script can tell an interrupted run (resume it) from a finished one (0).
"""

import os
import random
import signal
from pathlib import Path

import pytest

from rlvr.cli import main
from rlvr.tracking.logger import read_metrics
from rlvr.training.checkpoint import verify

from .killing import (
    KillAfterCheckpoint,
    assert_same_weights,
    complete_steps,
    recipe_file,
    start_train,
    wait_for_checkpoint,
)
from .test_checkpoint import _ckpts, _trainer, untimed_metrics

STEPS = 8
DATA = (
    "data.train=[{type: synthetic, generator: 'tests.training.resume_worker:digit_fraction_task', "
    "size: 64, seed: 1, kwargs: {num_digits: 3}}]"
)


def _recipe(tmp_path: Path) -> Path:
    return recipe_file(tmp_path, f"trainer.steps={STEPS}", "trainer.save_every=1", "data.eval=[]", DATA)


def test_a_run_killed_at_a_random_moment_resumes_to_the_same_weights_and_metrics(tmp_path):
    rng = random.Random(int(os.environ.get("RLVR_KILL_SEED", "0")))
    at_step, then_s = rng.randint(1, STEPS - 3), rng.uniform(0.0, 0.4)  # then_s: may land mid-write
    recipe = _recipe(tmp_path)
    run = tmp_path / "killed"
    killer = KillAfterCheckpoint(
        run, start_train(tmp_path, str(recipe), "trainer.run_name=killed", delay_s=0.01), at_step, then_s
    )
    assert main(["--quiet", "train", str(recipe), "trainer.run_name=full"]) == 0  # meanwhile, uninterrupted
    killer.join()
    assert max(complete_steps(run)) < STEPS

    assert main(["--quiet", "train", str(recipe), "trainer.run_name=killed", "--resume", str(run)]) == 0
    assert_same_weights(tmp_path / "full/final/model.safetensors", run / "final/model.safetensors", atol=1e-6)
    assert untimed_metrics(run) == untimed_metrics(tmp_path / "full")
    assert not list(run.glob("checkpoints/.*")), "no temporary directory is left"


def test_sigint_finishes_the_step_writes_a_checkpoint_and_exits_130(tmp_path):
    recipe = _recipe(tmp_path)
    run = tmp_path / "stopped"
    proc = start_train(tmp_path, str(recipe), "trainer.run_name=stopped", delay_s=0.02)
    wait_for_checkpoint(run, 1, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, (tmp_path / "stderr.txt").read_text()
    last = max(complete_steps(run))
    assert last < STEPS and verify(run / "checkpoints" / f"step-{last:04d}") is None
    out, err = (tmp_path / "stdout.txt").read_text(), (tmp_path / "stderr.txt").read_text()
    assert "SIGINT: finishing this step" in err
    assert (
        f"stopped by SIGINT after step {last}; checkpoint {run / 'checkpoints' / f'step-{last:04d}'}" in err
    )
    assert f"--resume {run}" in out
    assert not (run / "final").exists(), "a stopped run is not finished"
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == list(range(1, last + 1))


def _signal_at_step(trainer, step: int, *signals: signal.Signals) -> None:
    train_step = trainer.train_step

    def wrapped():
        if trainer.step == step:
            for sig in signals:
                os.kill(os.getpid(), sig)
        return train_step()

    trainer.train_step = wrapped


def test_sigterm_ends_the_step_then_checkpoints_and_restores_the_handlers(tmp_path):
    trainer = _trainer(tmp_path, "trainer.steps=6", "trainer.save_every=0")
    _signal_at_step(trainer, 1, signal.SIGTERM)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert trainer.fit() == {}
    trainer.close()
    assert (trainer.stopped_by, trainer.step) == (signal.SIGTERM, 2)
    assert _ckpts(trainer.run_dir) == ["step-0002"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_second_signal_aborts_at_once(tmp_path):
    trainer = _trainer(tmp_path, "trainer.steps=6")
    _signal_at_step(trainer, 1, signal.SIGINT, signal.SIGINT)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    trainer.close()
    assert _ckpts(trainer.run_dir) == ["step-0001"], "an abort writes no checkpoint"
    assert signal.getsignal(signal.SIGINT) is before


def test_cli_resume_and_force_resume(tmp_path, capsys):
    recipe = str(_recipe(tmp_path))
    assert main(["--quiet", "train", recipe, "trainer.steps=1", "trainer.run_name=cli"]) == 0
    # --resume with no value is 'auto': the newest run of this recipe (here: of run_name) under output_dir
    assert main(["--quiet", "train", recipe, "trainer.run_name=cli", "--resume", "trainer.steps=2"]) == 0
    assert "resuming from" in capsys.readouterr().out
    assert [r["step"] for r in read_metrics(tmp_path / "cli" / "metrics.jsonl")] == [1, 2]
    assert main(["--quiet", "train", recipe, "trainer.run_name=cli", "--resume", "optim.lr=0.5"]) == 2
    err = capsys.readouterr().err
    assert "optim.lr: 0.001 -> 0.5" in err and "--force-resume" in err
    args = ["--quiet", "train", recipe, "trainer.run_name=cli", "trainer.steps=3", "optim.lr=0.5"]
    assert main([*args, "--resume", str(tmp_path / "cli"), "--force-resume"]) == 0
    assert _ckpts(tmp_path / "cli") == ["step-0001", "step-0002", "step-0003"]
