"""A checkpoint write that hits a full disk says so and prints the resume command (which works); a line of
garbage in metrics.jsonl does not make a resumed run duplicate rows."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import yaml

from rlvr.cli import main
from rlvr.tracking.logger import read_metrics
from rlvr.training import checkpoint

from .helpers import tiny_recipe

DATA = "data.train=[{type: synthetic, generator: digit_sort, size: 64, seed: 1, kwargs: {num_digits: 3}}]"


def _recipe(tmp_path: Path) -> Path:
    cfg = tiny_recipe(tmp_path, "trainer.steps=2", "trainer.save_every=1", "data.eval=[]", DATA)
    cfg.model.num_threads = 1
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


def test_disk_full_checkpoint_says_so_and_prints_a_resume_command_that_works(tmp_path, monkeypatch, capsys):
    recipe = str(_recipe(tmp_path))
    real_write = checkpoint._write_files

    def fill_the_disk(tmp, model, tokenizer, state):
        if state.step == 2:
            (tmp / "model.safetensors").write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(tmp, model, tokenizer, state)

    monkeypatch.setattr(checkpoint, "_write_files", fill_the_disk)
    assert main(["--quiet", "train", recipe, "trainer.run_name=full"]) == 1
    err = capsys.readouterr().err
    run = tmp_path / "full"
    assert (
        f"checkpoint of step 2 not written to {run / 'checkpoints'}: the disk is full (No space left on device;"
        in err
    )
    assert "the previous checkpoint is intact" in err
    command = err.split("free some space, then continue with: ")[1].strip()
    assert command == f"rlvr train {recipe} --resume {run}"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0001"]  # no partial write left

    monkeypatch.setattr(checkpoint, "_write_files", real_write)  # space freed
    assert main(["--quiet", *command.split()[1:]]) == 0
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0001", "step-0002"]


def test_garbage_in_metrics_jsonl_does_not_duplicate_rows_on_resume(tmp_path):
    recipe = str(_recipe(tmp_path))
    assert main(["--quiet", "train", recipe, "trainer.run_name=g"]) == 0
    metrics = tmp_path / "g" / "metrics.jsonl"
    rows = metrics.read_bytes().splitlines(keepends=True)
    assert [json.loads(r)["step"] for r in rows] == [1, 2]
    # the checkpoint of step 2 is discarded, as if the run died before writing it; the log has step 2,
    # a line of garbage (with a byte that is not UTF-8) between its rows, and a torn last line
    checkpoint.discard_after(tmp_path / "g", 1)
    metrics.write_bytes(rows[0] + b"\xff garbage {\n" + rows[1] + b'{"step": 3, "x')
    assert main(["--quiet", "train", recipe, "trainer.run_name=g", "--resume"]) == 0
    assert [r["step"] for r in read_metrics(metrics)] == [1, 2]
    assert b"garbage" not in metrics.read_bytes()
