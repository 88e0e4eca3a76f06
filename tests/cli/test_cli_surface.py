"""The command line as a user meets it: --version, `rlvr config`, and failures that say what to do."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rlvr.cli import main
from rlvr.config import RunConfig, load_config
from rlvr.config_doc import (
    GENERATED_BLOCK_PAGES,
    REFERENCE_PATH,
    annotated_yaml,
    reference_markdown,
    refresh_blocks,
)
from rlvr.preflight import looks_local

ROOT = Path(__file__).resolve().parents[2]


def rlvr_cli(*args: str, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "rlvr.cli", *args], capture_output=True, text=True, cwd=cwd)
    return out, time.perf_counter() - start


def test_version():
    out, _ = rlvr_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == "rlvr 0.1.0"


def test_a_typo_fails_in_about_a_second_with_one_line_and_no_run_directory(tmp_path):
    runs = tmp_path / "runs"
    out, seconds = rlvr_cli(
        "train", "recipes/quickstart.yaml", "algorithm.advantage=grpoo", f"trainer.output_dir={runs}"
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("rlvr train: invalid config in recipes/quickstart.yaml")
    assert lines[1:] == [
        "  algorithm.advantage: unknown advantage estimator 'grpoo'; known: dr_grpo, gae, grpo, reinforce, "
        "reinforce_pp, rloo (or a 'module:attr' import path); did you mean 'grpo'?"
    ]
    assert not runs.exists()
    assert seconds < 10  # ~0.6 s on a quiet machine; the bound leaves room for a busy one


def test_a_missing_model_directory_is_named(tmp_path):
    out, _ = rlvr_cli("train", "recipes/quickstart.yaml", "model.path=runs/x/final", "model.tiny=null")
    assert out.returncode == 2
    assert "model.path: directory runs/x/final does not exist" in out.stderr
    assert "Repo id" not in out.stderr and "Traceback" not in out.stderr


def test_data_errors_exit_2_and_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "answer": "b"}\n{"question": "x"}\n')
    args = ["train", "recipes/quickstart.yaml", f"data.train=[{{type: jsonl, path: {bad}, mapping: {{}}}}]"]
    args.append(f"trainer.output_dir={tmp_path / 'runs'}")
    out, _ = rlvr_cli(*args)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        f"rlvr train: {bad} row 2: field 'prompt' missing; expected one of 'prompt'",
        "rlvr train: (--debug shows the traceback)",
    ]
    assert not (tmp_path / "runs").exists()
    out, _ = rlvr_cli(*args, "--debug")
    assert out.returncode == 2 and "Traceback (most recent call last)" in out.stderr


def test_a_missing_reward_server_and_data_file_are_reported_together(tmp_path, capsys):
    code = main(
        [
            "eval",
            str(ROOT / "recipes/quickstart.yaml"),
            "data.eval=[{type: jsonl, path: missing.jsonl}]",
            "reward.server_url=http://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err[0] == "rlvr eval: cannot start:"
    assert err[1] == "  data.eval.0.path: missing.jsonl does not exist"
    assert err[2].startswith("  reward.server_url: no reward server answers at http://127.0.0.1:9")
    assert "rlvr serve-rewards" in err[2]


def test_config_prints_the_resolved_config_with_descriptions_and_defaults(capsys):
    recipe = str(ROOT / "recipes/quickstart.yaml")
    assert main(["config", recipe, "trainer.steps=7"]) == 0
    text = capsys.readouterr().out
    assert "  # Peak learning rate. [default: 1.0e-06]\n  lr: 0.0003\n" in text
    assert (
        "  # Training steps; each samples prompts_per_step prompts x rollout.n completions. [default: 100]\n"
        in text
    )
    assert RunConfig.model_validate(yaml.safe_load(text)) == load_config(recipe, ["trainer.steps=7"])


def test_the_config_reference_is_up_to_date():
    committed = (ROOT / REFERENCE_PATH).read_text()
    assert committed == reference_markdown(), "regenerate it: python -m rlvr.config_doc --write"
    for page in GENERATED_BLOCK_PAGES:
        text = (ROOT / page).read_text()
        assert "<!-- fields: " in text
        assert text == refresh_blocks(text), f"regenerate {page}: python -m rlvr.config_doc --write"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in ROOT.glob("recipes/**/*.yaml") if "imagenav" not in p.parts),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_rlvr_config_output_is_the_same_recipe(path):
    cfg = load_config(path)
    assert RunConfig.model_validate(yaml.safe_load(annotated_yaml(cfg))) == cfg


@pytest.mark.parametrize(
    ("name", "local"),
    [
        ("Qwen/Qwen2.5-0.5B-Instruct", False),
        ("gpt2", False),
        ("runs/x/final", True),
        ("./model", True),
        ("/abs/model", True),
        ("~/model", True),
        ("recipes/not-a-model", True),  # recipes/ is a directory here: a local path was meant
    ],
)
def test_local_model_paths_are_told_from_hub_ids(name, local, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert looks_local(name) is local


def test_a_missing_optional_package_says_how_to_install_it():
    from rlvr.cli import _expected_message

    assert _expected_message(ModuleNotFoundError("No module named 'ray'", name="ray")) == (
        "this needs the optional package 'ray': pip install 'rlvr[ray]'"
    )
    assert _expected_message(ModuleNotFoundError("No module named 'numpyy'", name="numpyy")) is None
    assert _expected_message(RuntimeError("a bug")) is None  # its traceback is shown
