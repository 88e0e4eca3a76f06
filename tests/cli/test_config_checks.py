"""A config is checked when it is loaded: registry names, cross-field rules, non-finite numbers and
duplicate YAML keys are errors that name the field, before any model or data is touched."""

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from rlvr.config import ConfigError, RunConfig, load_config


def problems(*overrides: str) -> list[str]:
    """The problem lines of the ConfigError that ``overrides`` raise (the header line dropped)."""
    with pytest.raises(ConfigError) as err:
        load_config(None, list(overrides))
    return str(err.value).splitlines()[1:]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["algorithm.policy_loss=ppo"],
            "algorithm.policy_loss: unknown policy loss 'ppo'; known: ppo_clip, vanilla_pg",
        ),
        (
            ["algorithm.loss_agg=mean"],
            "algorithm.loss_agg: unknown loss aggregation 'mean'; known: seq_mean_token_mean",
        ),
        (
            ["algorithm.kl_estimator=k4"],
            "algorithm.kl_estimator: unknown KL estimator 'k4'; known: k1, k2, k3",
        ),
        (
            ["data.train=[{type: jsonl, path: x.jsonl, mapping: {verifier: maths}}]"],
            "data.train.0.mapping.verifier: unknown verifier 'maths'; known: ",
        ),
        (
            ["data.eval=[{type: verl, path: x.parquet, mapping: {verifiers: {gsm8k: mathh}}}]"],
            "data.eval.0.mapping.verifiers.gsm8k: unknown verifier 'mathh'",
        ),
        (
            ["data.train=[{type: synthetic, generator: digit_srot, size: 4}]"],
            "data.train.0.generator: unknown data generator 'digit_srot'; known: ",
        ),
        (
            ["reward.schedules=[{verifiers: [iouu]}]"],
            "reward.schedules.0.verifiers: unknown verifier 'iouu'",
        ),
    ],
)
def test_unknown_names_are_refused_with_the_field_and_the_known_names(overrides, expected):
    (line,) = problems(*overrides)
    assert line.strip().startswith(expected), line


def test_a_close_name_is_suggested():
    (line,) = problems("algorithm.advantage=grpoo")
    assert line.endswith("did you mean 'grpo'?")


def test_import_paths_and_names_behind_a_reward_server_pass():
    cfg = load_config(None, ["algorithm.advantage=my_pkg.adv:estimator"])
    assert cfg.algorithm.advantage == "my_pkg.adv:estimator"  # not imported at load
    server = "data.train=[{type: jsonl, path: x.jsonl, mapping: {verifier: only_on_server}}]"
    assert load_config(None, [server, "reward.server_url=http://host:8765"]).reward.server_url


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["reference_reset.every=10"],
            "reference_reset: a reset copies the policy into the reference model, and algorithm.kl_coef=0",
        ),
        (
            ["reference_reset.every=10", "algorithm.kl_coef=1e-4", "model.lora={r: 8}"],
            "reference_reset: not supported with model.lora",
        ),
        (
            ["rollout.engine=vllm", "model.lora={r: 8}"],
            "rollout.engine: vllm with model.lora is not supported yet",
        ),
        (
            ["data.logged=rollouts.jsonl", "trainer.max_staleness=1"],
            "trainer.max_staleness: data.logged trains without generating",
        ),
        (
            ["algorithm.advantage=gae"],
            "algorithm.advantage: 'gae' needs per-token values from a critic, and this run has no critic",
        ),
        (
            ["filters.dynamic_sampling=true", "filters.apply=[errored]"],
            "filters.dynamic_sampling: true, but filters.apply ['errored'] does not list 'dynamic_sampling'",
        ),
        (["filters.apply=[errored, zzz]"], "filters.apply: unknown filter 'zzz'; known: dynamic_sampling"),
        (
            ["rollout.n=4", "algorithm.num_update_samples_per_prompt=8"],
            "algorithm.num_update_samples_per_prompt: 8 samples of each group cannot be drawn from rollout.n=4",
        ),
        (["eval.n=2", "eval.k=[1,4]"], "eval.k: pass@k needs k <= eval.n samples per problem; got k=[4]"),
        (
            ["reward.schedules=[{boundaries: [0.5], values: [1.0]}]"],
            "reward.schedules.0.values: needs len(boundaries) + 1 = 2 values, got 1",
        ),
    ],
)
def test_cross_field_rules_fail_at_load(overrides, expected):
    (line,) = problems(*overrides)
    assert line.strip().startswith(expected), line


def test_every_problem_is_one_line():
    lines = problems("reference_reset.every=10", "rollout.engine=vllm", "model.lora={r: 8}")
    assert [line.split(":")[0].strip() for line in lines] == [
        "reference_reset",
        "reference_reset",
        "rollout.engine",
    ]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("optim.lr=.inf", "optim.lr"),
        ("algorithm.eps_high=.nan", "algorithm.eps_high"),
        ("optim.lr=-.inf", "optim.lr"),
    ],
)
def test_non_finite_numbers_are_refused_with_the_field_named(override, field):
    (line,) = problems(override)
    assert line.strip().startswith(f"{field}: must be a finite number"), line


def test_non_finite_numbers_inside_free_form_fields_and_strings_are_refused():
    (line,) = problems("data.train=[{type: synthetic, generator: digit_sort, size: 4, kwargs: {p: .nan}}]")
    assert line.strip().startswith("data.train.0.kwargs.p: must be a finite number"), line
    (line,) = problems("optim.lr='inf'")  # a string pydantic would read as a float
    assert line.strip().startswith("optim.lr: Input should be a finite number"), line
    with pytest.raises(ValidationError, match="Input should be a finite number"):
        RunConfig.model_validate({"optim": {"lr": float("inf")}})


def test_duplicate_yaml_keys_name_the_file_the_line_and_the_key(tmp_path):
    recipe = tmp_path / "dup.yaml"
    recipe.write_text("trainer:\n  steps: 5\n  seed: 1\n  steps: 6\n")
    with pytest.raises(ConfigError) as err:
        load_config(recipe)
    assert str(err.value) == f"{recipe} line 4: duplicate key 'steps' (first on line 2); keep one"
    (tmp_path / "top.yaml").write_text("name: a\noptim: {lr: 1e-5}\nname: b\n")
    with pytest.raises(ConfigError, match=r"top.yaml line 3: duplicate key 'name' \(first on line 1\)"):
        load_config(tmp_path / "top.yaml")


def test_config_loading_imports_no_torch():
    probe = (
        "import sys, rlvr.config\n"
        "for r in ('recipes/quickstart.yaml', 'recipes/prorl.yaml', 'recipes/mixed_sources.yaml'):\n"
        "    rlvr.config.load_config(r)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_field_docstrings_reach_the_json_schema():
    schema = RunConfig.model_json_schema()
    defs = schema["$defs"]
    assert defs["OptimConfig"]["properties"]["lr"]["description"] == "Peak learning rate."
    assert defs["AlgorithmConfig"]["properties"]["kl_coef"]["description"].startswith("Coefficient of the KL")
    assert (
        defs["TinyModelConfig"]["properties"]["hidden_size"]["description"] == "Width of the residual stream."
    )
    assert json.dumps(schema)  # serialisable as is
