"""Every recipe under recipes/ validates and names pieces that exist; the tiny twins run end to end.

The fast tests read recipes only (no model, no network). The ``slow`` ones run each tiny twin for two steps
from a short SFT warm start, and each hub recipe for one step with local stand-ins for the hub model and
datasets (the prompt mapping, verifiers and reward wiring run exactly as on a hub).
"""

import json
from pathlib import Path

import pytest
import yaml

from rlvr.algorithms import ADVANTAGES, KL_ESTIMATORS, LOSS_AGGREGATIONS, POLICY_LOSSES
from rlvr.cli import main
from rlvr.config import load_config, read_recipe
from rlvr.data.generators import GENERATORS, generate
from rlvr.data.rows import FieldMapping
from rlvr.data.specs import ReasoningGymDatasetSpec, SyntheticDatasetSpec
from rlvr.models.tiny import TinyModelConfig, save_tiny
from rlvr.rewards import VERIFIERS
from rlvr.rewards.router import RewardRouter, ScoreRequest
from rlvr.tracking.logger import read_metrics

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(
    p for p in ROOT.glob("recipes/**/*.yaml") if "imagenav" not in p.parts
)  # embodied: tests/embodied
# recipes/tiny/multiturn.yaml is a tiny recipe of its own (a toy environment), not a twin of a hub recipe;
# recipes/tiny/s3.yaml needs its own tiny model (a long context), run by tests/envs/test_s3_recipe.py;
# the tiny VLM twins (and their base) run on a tiny VLM: tests/vision/test_vlm_recipes.py
VLM_TWINS = ("vlm_base.yaml", "vlaa_grpo.yaml", "vlaa_sft_grpo.yaml", "orsta.yaml", "orsta_box.yaml")
# episode twins need their own warm start and have their own tests (tests/envs, tests/training)
EPISODE_TWINS = ("multiturn.yaml", "s3.yaml", "tomap.yaml")
TWINS = sorted(
    p
    for p in (ROOT / "recipes/tiny").glob("*.yaml")
    if p.name not in ("base.yaml", *EPISODE_TWINS, *VLM_TWINS)
)
SPURIOUS = sorted(p for p in (ROOT / "recipes/spurious").glob("*.yaml") if p.name != "base.yaml")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def verifier_names(name: str, params: dict) -> list[str]:
    """A verifier and, for ``combined``, the verifiers of its components."""
    inner = [c["verifier"] for c in params.get("components", [])] if name == "combined" else []
    return [name, *inner]


def named_pieces(cfg) -> tuple[list[str], list[str], list[str]]:
    """(verifiers, generators, reasoning-gym tasks) a recipe's data refers to."""
    verifiers, generators, gym_tasks = [], [], []
    for spec in [*cfg.data.train, *cfg.data.eval, *cfg.data.sft]:
        mapping = getattr(spec, "mapping", None)
        if isinstance(mapping, FieldMapping):
            verifiers += verifier_names(mapping.verifier, mapping.verifier_params)
        if isinstance(spec, SyntheticDatasetSpec):
            generators.append(spec.generator)
            if spec.generator == "variant":
                generators.append(spec.kwargs["task"])
                if "verifier" in spec.kwargs:
                    verifiers.append(spec.kwargs["verifier"])
        if isinstance(spec, ReasoningGymDatasetSpec):
            gym_tasks += [t.name for t in spec.tasks]
    return verifiers, generators, gym_tasks


def test_the_recipes_are_found():
    names = {rel(p) for p in RECIPES}
    assert {"recipes/dapo.yaml", "recipes/prorl.yaml", "recipes/spurious/random.yaml"} <= names
    assert "recipes/scale/gsm8k-ray-vllm.yaml" in names
    assert {p.stem for p in SPURIOUS} == {"ground_truth", "majority", "incorrect", "format", "random"}
    assert {p.stem for p in TWINS} == {
        "dapo",
        "fsdp",
        "prorl",
        "scale",
        *(f"spurious_{p.stem}" for p in SPURIOUS),
    }


@pytest.mark.parametrize("path", RECIPES, ids=rel)
def test_every_recipe_validates_and_names_existing_pieces(path):
    cfg = load_config(path)
    a = cfg.algorithm
    for registry, name in (
        (ADVANTAGES, a.advantage),
        (POLICY_LOSSES, a.policy_loss),
        (LOSS_AGGREGATIONS, a.loss_agg),
        (KL_ESTIMATORS, a.kl_estimator),
    ):
        registry.get(name)
    verifiers, generators, gym_tasks = named_pieces(cfg)
    for name in verifiers:
        VERIFIERS.get(name)
    for name in generators:
        GENERATORS.get(name)
    if gym_tasks:
        from reasoning_gym.factory import DATASETS

        assert set(gym_tasks) <= set(DATASETS), set(gym_tasks) - set(DATASETS)
    assert max(cfg.eval.k) <= cfg.eval.n
    if cfg.reference_reset.every or cfg.reference_reset.metric:
        assert cfg.algorithm.kl_coef > 0, "a reference reset needs a reference model"


def read_recipe_includes(path: Path) -> list[Path]:
    """The files a recipe's ``include:`` names, resolved."""
    inc = yaml.safe_load(path.read_text()).get("include", [])
    return [(path.parent / p).resolve() for p in ([inc] if isinstance(inc, str) else inc)]


@pytest.mark.parametrize("twin", TWINS, ids=rel)
def test_a_tiny_twin_keeps_its_hub_recipe_objective(twin):
    includes = read_recipe_includes(twin)
    hub = next(p for p in includes if p.parent.name != "tiny")
    cfg, hub_cfg = load_config(twin), load_config(hub)
    assert cfg.model.tiny is not None and cfg.model.path is None
    assert cfg.algorithm == hub_cfg.algorithm
    assert cfg.filters == hub_cfg.filters
    assert cfg.rollout.temperature == hub_cfg.rollout.temperature
    assert cfg.monitor == hub_cfg.monitor


def test_the_spurious_variants_differ_only_in_their_training_data():
    base = read_recipe(ROOT / "recipes/spurious/base.yaml")
    for path in SPURIOUS:
        tree = read_recipe(path)
        assert {k for k in tree if tree[k] != base.get(k)} == {"name", "data"}, path
        assert tree["data"]["eval"] == base["data"]["eval"]


def test_instruction_following_references_pass_their_verifier():
    samples = generate("instruction_following", 200, seed=0)
    results = RewardRouter().score([ScoreRequest(s.response, s.reward) for s in samples])
    assert all(r.error is None and r.score == 1.0 and r.correct for r in results)
    wrong = RewardRouter().score([ScoreRequest("no.", s.reward) for s in samples])
    assert all(r.score < 1.0 and r.correct is False for r in wrong)


def test_variant_keeps_the_truth_at_weight_zero():
    (s,) = generate("variant", 1, seed=0, task="digit_sort", verifier="random", params={"gamma": 1.0})
    (r,) = RewardRouter().score([ScoreRequest("wrong", s.reward, sample_key="k")])
    assert (r.score, r.correct) == (1.0, False)  # paid by the random reward, judged by the truth


# ---- end to end (slow) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory):
    """A short SFT warm start of the quickstart's tiny model (all twins share its shape). From scratch the
    model scores 0 on digit_sort: dynamic sampling would find no informative group and skip every update."""
    out = tmp_path_factory.mktemp("sft")
    args = [
        "sft",
        "recipes/tiny/base.yaml",
        f"trainer.output_dir={out}",
        "trainer.run_name=sft",
        "sft.steps=40",
    ]
    assert main(["--quiet", *args]) == 0
    return out / "sft" / "sft"


def small(cfg, tmp_path: Path) -> list[str]:
    """Overrides that make a twin's run a two-step smoke test."""
    sizes = [f"data.eval.{i}.size=16" for i in range(len(cfg.data.eval))]
    return [
        *sizes,
        "trainer.steps=2",
        "trainer.prompts_per_step=8",
        "trainer.mini_batch_size=32",
        "trainer.eval_every=1",
        f"trainer.output_dir={tmp_path / 'runs'}",
        # Ray twins: on a 2-core machine loaded by other jobs an FSDP learner actor took over the default
        # 120 s to start; the smoke test checks the run, not that deadline
        "ray.init_timeout_s=600",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("twin", TWINS, ids=rel)
def test_a_tiny_twin_runs_end_to_end(twin, sft_model, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load_config(twin)
    start = [f"model.path={sft_model}", "model.tiny=null"]
    extra = []
    mode = twin.stem.removeprefix("spurious_")
    if mode in ("majority", "incorrect"):  # the labels first, as the twin's header says
        labels = tmp_path / f"{mode}.jsonl"
        label_args = [rel(ROOT / "recipes/tiny/spurious_ground_truth.yaml"), *start, "data.train.0.size=48"]
        assert (
            main(
                ["--quiet", "pseudo-label", *label_args, "--k", "8", "--mode", mode, "--output", str(labels)]
            )
            == 0
        )
        extra.append(f"data.train.0.path={labels}")
    if twin.stem == "prorl":
        extra.append("reference_reset.every=1")
    assert main(["--quiet", "train", rel(twin), *start, *small(cfg, tmp_path), *extra]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    metrics = read_metrics(run / "metrics.jsonl")
    steps = [m for m in metrics if "perf/step_s" in m]
    assert len(steps) == 2 and all("train/entropy" in m for m in steps)
    assert "eval/all/accuracy" in metrics[-1]
    if cfg.monitor.behaviours:
        assert "reward/all/python_rate" in steps[0]
    if twin.stem == "prorl":
        assert any(m.get("train/reference_reset") == 1.0 for m in metrics)
        assert "eval/digit_sort_4/accuracy" in metrics[-1]


HUB_RECIPES = ["dapo", "prorl", "spurious/ground_truth", "spurious/format", "spurious/random"]


@pytest.mark.slow
@pytest.mark.parametrize("name", HUB_RECIPES)
def test_a_hub_recipe_runs_with_local_stand_ins(name, tmp_path, monkeypatch):
    """The hub recipe with its model and hub datasets swapped for local files: the chat template, field
    mappings and (combined) verifiers run exactly as they would with the hub's."""
    monkeypatch.chdir(ROOT)
    recipe = ROOT / "recipes" / f"{name}.yaml"
    cfg = load_config(recipe)
    # a context that holds every recipe's prompts (longer ones are refused before a run starts)
    tiny = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_layers": 1,
        "num_heads": 2,
        "max_positions": 1024,
    }
    model_dir = save_tiny(TinyModelConfig(**tiny), tmp_path / "model")
    lines = [json.dumps({"problem": f"What is {i} + {i}?", "answer": str(2 * i)}) for i in range(8)]
    overrides = [
        f"model.path={model_dir}",
        "model.dtype=float32",
        "model.gradient_checkpointing=false",
        "rollout.max_new_tokens=8",
        "rollout.n=4",
        "eval.n=1",
        "eval.k=[1]",
        "trainer.steps=1",
        "trainer.prompts_per_step=4",
        "trainer.mini_batch_size=8",
        "trainer.micro_batch_size=16",
        "trainer.eval_every=0",
        "trainer.save_every=0",
        # A tiny random model scores 0 everywhere, so dynamic sampling would drop every group and skip the
        # update; this test is about the data and reward wiring, so it samples without the filter.
        "filters.dynamic_sampling=false",
        "reward.workers=0",
        f"trainer.output_dir={tmp_path / 'runs'}",
    ]
    for part in ("train", "eval"):
        for i, spec in enumerate(getattr(cfg.data, part)):
            if spec.type == "hf":  # one file per spec: ids derive from the file name and must not collide
                rows = tmp_path / f"{part}{i}.jsonl"
                rows.write_text("\n".join(lines))
                overrides += [f"data.{part}.{i}.name={rows}", f"data.{part}.{i}.split=train"]
            elif getattr(spec, "size", None) is not None:
                overrides.append(f"data.{part}.{i}.size=8")
    assert main(["--quiet", "train", str(recipe), *overrides]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    metrics = read_metrics(run / "metrics.jsonl")
    assert metrics[0]["reward/all/error_count"] == 0
    assert "eval/all/accuracy" in metrics[-1]
