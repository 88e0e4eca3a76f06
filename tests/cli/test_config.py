import pytest

from rlvr.config import ConfigError, load_config


def test_dotted_overrides_reach_nested_fields_and_list_items(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data:\n  train:\n    - {type: synthetic, generator: digit_sort, size: 10, seed: 0}\n")
    cfg = load_config(
        recipe, ["trainer.steps=7", "algorithm.eps_high=0.28", "data.train.0.size=3", 'rollout.stop=["\\n"]']
    )
    assert cfg.trainer.steps == 7 and cfg.algorithm.eps_high == 0.28
    assert cfg.data.train[0].size == 3 and cfg.rollout.stop == ["\n"]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.stpes=5", "trainer.stpes: unknown field; valid fields: "),
        ("optim.lr=-1", "optim.lr: Input should be greater than 0"),
        ("model.dtype=fp8", "'float32', 'bfloat16' or 'float16'"),
        ("rollout.engine=sglang", "rollout.engine"),
        ("data.train=[{type: nope}]", "'jsonl', 'parquet', 'hf', 'verl', 'reasoning_gym', 'synthetic'"),
        ("trainer=3", "trainer"),
        ("nonsense", "must look like 'section.field=value'"),
        ("data.train.4.size=1", "data.train: Input should be a valid list"),
    ],
)
def test_bad_config_names_the_field_and_the_choices(override, expected):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert expected in str(err.value)


def test_bad_recipe_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(bad)


def test_unknown_algorithm_names_list_the_known_ones_at_load():
    with pytest.raises(ConfigError, match="unknown advantage estimator 'grpoo'; known: dr_grpo, gae, grpo"):
        load_config(None, ["algorithm.advantage=grpoo"])


def test_recipes_include_others_and_override_them(tmp_path):
    (tmp_path / "base.yaml").write_text("trainer: {steps: 100, seed: 3}\nrollout: {stop: ['a', 'b']}\n")
    sub = tmp_path / "tiny"
    sub.mkdir()
    (sub / "r.yaml").write_text("include: ../base.yaml\ntrainer: {steps: 5}\nrollout: {stop: ['c']}\n")
    cfg = load_config(sub / "r.yaml")
    assert cfg.trainer.steps == 5 and cfg.trainer.seed == 3  # mappings merge
    assert cfg.rollout.stop == ["c"]  # lists are replaced
    (tmp_path / "loop.yaml").write_text("include: loop.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_config(tmp_path / "loop.yaml")


def test_changed_fields_names_each_dotted_field_and_skips_safe_sections():
    from rlvr.recipe_files import changed_fields

    old = {"seed": 1, "eval": {"episodes": 8}, "evaluation": 1, "ppo": {"lr": 1e-3, "epochs": 2}}
    new = {"seed": 1, "eval": {"episodes": 64}, "evaluation": 2, "ppo": {"lr": 5e-4}, "extra": True}
    assert changed_fields(old, new, ("eval", "ppo.epochs")) == [
        "evaluation: 1 -> 2",  # "eval" is a section name, not a prefix of other names
        "extra: '<absent>' -> True",
        "ppo.lr: 0.001 -> 0.0005",
    ]
