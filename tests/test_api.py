"""The public Python API: the docs' example runs, in-memory models and rows, plain-float rewards."""

import re
import sys
from pathlib import Path

import pytest

import rlvr
import rlvr.api
import rlvr.preflight
from rlvr.api import Trainer, reward_name
from rlvr.config import ConfigError, load_config
from rlvr.data.errors import DataFormatError
from rlvr.data.sample import RewardSpec
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer, save_tiny
from rlvr.rewards.router import RewardRouter, ScoreRequest
from rlvr.rewards.types import VERIFIERS
from rlvr.tracking.logger import read_metrics

from .training.helpers import TINY, starts_with_seven

ROOT = Path(__file__).resolve().parents[1]
ROWS = [
    {"prompt": f"sort {n}=", "answer": "".join(sorted(n))} for n in ("312", "201", "523", "441", "190", "876")
]
SMALL = {
    "rollout": {"n": 4, "max_new_tokens": 4},
    "trainer": {"steps": 2, "prompts_per_step": 4},
}


def rlvr_example() -> str:
    """The rlvr column of the side-by-side example in docs/python_api.md."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs/python_api.md").read_text(), re.S)
    return next(b for b in blocks if "import rlvr" in b and "rlvr.Trainer(" in b)


def test_the_docs_example_runs_on_a_tiny_local_model(tmp_path, monkeypatch):
    import datasets

    model_dir = save_tiny(TinyModelConfig(**TINY), tmp_path / "model")
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.Dataset.from_list(ROWS))
    small = SMALL | {"trainer": SMALL["trainer"] | {"output_dir": str(tmp_path / "runs")}}

    class SmallTrainer(Trainer):  # the example as written, a few steps long
        def __init__(self, *args, **kwargs):
            super().__init__(*args, show_progress=False, **kwargs, **small)

    monkeypatch.setattr(rlvr.api, "Trainer", SmallTrainer)
    code = rlvr_example().replace("Qwen/Qwen2-0.5B-Instruct", str(model_dir))
    scope: dict = {"__name__": "__main__"}
    exec(compile(code, "docs/python_api.md", "exec"), scope)
    run_dir = scope["trainer"].run_dir
    metrics = read_metrics(run_dir / "metrics.jsonl")
    assert len(metrics) == 2
    verifier = "reward_num_unique_chars"  # a __main__ function: registered in this process
    for m in metrics:
        assert m["reward/all/error_count"] == 0 and m[f"reward/verifier/{verifier}/error_count"] == 0
        assert m["reward/all/reward_mean"] >= 1.0  # a completion of >= 1 character has >= 1 unique one
    saved = load_config(run_dir / "config.yaml")
    assert saved.model.path == str(model_dir)
    assert saved.data.train[0].path == str(run_dir / "data" / "train.jsonl")
    assert saved.data.train[0].mapping.verifier == verifier
    assert (run_dir / "final" / "config.json").exists()


def test_a_model_object_rows_and_a_bool_reward(tmp_path):
    tok = build_tokenizer(TinyModelConfig(**TINY).alphabet)
    model = build_tiny_model(TinyModelConfig(**TINY), tok)

    def has_digit(completion, ground_truth):
        return any(c.isdigit() for c in completion)

    run = Trainer(
        model,
        rewards=[has_digit, starts_with_seven],
        reward_weights=[1.0, 0.5],
        train_dataset=ROWS,
        eval_dataset=ROWS[:2],
        tokenizer=tok,
        show_progress=False,
        trainer={"steps": 1, "prompts_per_step": 4, "output_dir": str(tmp_path)},
        rollout={"n": 2, "max_new_tokens": 3},
    )
    assert run.config.model.path == "<in-memory model>" and run.run_dir is None  # nothing built yet
    spec = run.config.data.train[0].mapping
    assert spec.verifier == "combined" and spec.answer_key == "answer"
    assert spec.verifier_params["components"] == [
        {"verifier": "has_digit", "weight": 1.0},
        {"verifier": "tests.training.helpers:starts_with_seven", "weight": 0.5},
    ]
    final = run.fit()
    assert 0.0 <= final["eval/all/accuracy"] <= 1.0  # a bool reward says right or wrong
    assert (run.run_dir / "initial_model" / "config.json").exists()
    assert len((run.run_dir / "data" / "eval.jsonl").read_text().splitlines()) == 2


def test_problems_are_found_before_anything_is_built(tmp_path):
    with pytest.raises(ConfigError, match=r"must accept \(completion, ground_truth\)"):
        Trainer(rewards=lambda completions, **kw: [1.0], train_dataset=ROWS)
    with pytest.raises(ConfigError, match="reward worker processes cannot import them"):
        Trainer(rewards=lambda c, gt: 1.0, train_dataset=ROWS, reward={"workers": 2})
    with pytest.raises(DataFormatError, match="train_dataset row 2: field 'prompt' missing"):
        Trainer(rewards="exact_match", train_dataset=[ROWS[0], {"question": "x", "answer": "y"}])
    with pytest.raises(ConfigError, match="trainer.stpes: unknown field"):
        Trainer(train_dataset=ROWS, trainer={"stpes": 3})
    with pytest.raises(ConfigError, match="a model object needs its tokenizer"):
        Trainer(object(), train_dataset=ROWS)
    run = Trainer("runs/no/such/model", rewards="exact_match", train_dataset=ROWS)
    with pytest.raises(rlvr.preflight.PreflightError, match="directory runs/no/such/model does not exist"):
        run.build()


def test_configs_come_from_recipes_dicts_and_objects(tmp_path):
    a = Trainer(config=ROOT / "recipes/quickstart.yaml", overrides=["trainer.steps=7"], optim={"lr": 1e-4})
    assert a.config.trainer.steps == 7 and a.config.optim.lr == 1e-4 and a.config.name == "quickstart"
    b = Trainer(config=a.config, trainer={"steps": 3})
    assert b.config.trainer.steps == 3 and b.config.model == a.config.model
    c = Trainer(config={"trainer": {"seed": 5}})
    assert c.config.trainer.seed == 5


def test_reward_names():
    assert reward_name(starts_with_seven) == "tests.training.helpers:starts_with_seven"
    assert reward_name("math") == "math"

    def local(completion, ground_truth):
        return 0.0

    name = reward_name(local)
    assert name.startswith("local") and VERIFIERS.get(name) is local
    assert reward_name(local) == name  # registered once


def test_a_verifier_may_return_a_plain_number():
    def three(completion, ground_truth):
        return 3

    def right(completion, ground_truth):
        return completion == ground_truth

    names = [reward_name(three), reward_name(right)]
    results = RewardRouter().score([ScoreRequest("x", RewardSpec(n, "x", weight=2.0)) for n in names])
    assert [(r.score, r.correct, r.error) for r in results] == [(6.0, None, None), (2.0, True, None)]


def test_the_package_exports_lazily():
    assert set(rlvr.__all__) == {*rlvr._EXPORTS, "__version__"}
    import subprocess

    probe = "import sys, rlvr; rlvr.Trainer; rlvr.RunConfig; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
