"""Rules of a run config that span fields, checked when the config is loaded (before any model or data).

Each rule returns the problems it finds as ``"field.path: what is wrong; what to do"`` lines;
:class:`CheckedRun` (a base of :class:`rlvr.config.RunConfig`) runs them all and reports every problem
at once. Names of registered pieces in data specs (verifiers, generators) are checked here too: data
specs name them, but ``data`` never imports ``rewards``. Nothing here imports torch.

A new rule is a function ``(cfg) -> list[str]`` appended to :data:`RULES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, model_validator

from rlvr.algorithms.registries import needs_values
from rlvr.training.learner_config import sharded_learner_rules

if TYPE_CHECKING:
    from rlvr.config import RunConfig
    from rlvr.registry import Registry


def critic_enabled(cfg: RunConfig) -> bool:
    """Whether the run trains a critic (a value model): a ``critic:`` section is present."""
    return cfg.critic is not None


def _resets(cfg: RunConfig) -> bool:
    return bool(cfg.reference_reset.every or cfg.reference_reset.metric)


def reset_needs_kl(cfg: RunConfig) -> list[str]:
    if _resets(cfg) and cfg.algorithm.kl_coef == 0:
        return [
            "reference_reset: a reset copies the policy into the reference model, and algorithm.kl_coef=0 "
            "loads none; set algorithm.kl_coef > 0 (ProRL uses 1e-4) or turn resets off"
        ]
    return []


def reset_without_lora(cfg: RunConfig) -> list[str]:
    if _resets(cfg) and cfg.model.lora is not None:
        return [
            "reference_reset: not supported with model.lora (the reference is the base model with the "
            "adapter disabled, which cannot hold the policy); train full weights or turn resets off"
        ]
    return []


def vllm_without_lora(cfg: RunConfig) -> list[str]:
    if cfg.rollout.engine == "vllm" and cfg.model.lora is not None:
        return [
            "rollout.engine: vllm with model.lora is not supported yet; merge the adapter, or use engine=hf"
        ]
    return []


def logged_is_synchronous(cfg: RunConfig) -> list[str]:
    if cfg.data.logged and cfg.trainer.max_staleness:
        return [
            f"trainer.max_staleness: data.logged trains without generating, so there is nothing to run "
            f"ahead (got {cfg.trainer.max_staleness}); set trainer.max_staleness=0"
        ]
    return []


def values_need_a_critic(cfg: RunConfig) -> list[str]:
    adv = cfg.algorithm.advantage
    if needs_values(adv) and not critic_enabled(cfg):
        return [
            f"algorithm.advantage: {adv!r} needs per-token values from a critic, and this run has no "
            "critic; use an estimator without one (grpo, dr_grpo, rloo, reinforce, reinforce_pp)"
        ]
    return []


def filter_switches_in_list(cfg: RunConfig) -> list[str]:
    """An explicit ``filters.apply`` replaces the filter switches: a switch turned on whose filter is not in
    the list would be silently ignored, so it is an error."""
    if cfg.filters.apply is None:
        return []
    switches = {
        "filters.dynamic_sampling": ("dynamic_sampling", cfg.filters.dynamic_sampling),
        "filters.overlong": ("overlong", cfg.filters.overlong),
    }
    return [
        f"{field}: true, but filters.apply {cfg.filters.apply} does not list {name!r}; add it to the list "
        f"or set {field}=false"
        for field, (name, on) in switches.items()
        if on and name not in cfg.filters.apply
    ]


def update_subset_within_group(cfg: RunConfig) -> list[str]:
    k = cfg.algorithm.num_update_samples_per_prompt
    if k is not None and k > cfg.rollout.n:
        return [
            f"algorithm.num_update_samples_per_prompt: {k} samples of each group cannot be drawn from "
            f"rollout.n={cfg.rollout.n}; set it to at most {cfg.rollout.n} (or null for every sample)"
        ]
    return []


def pass_k_within_n(cfg: RunConfig) -> list[str]:
    bad = [k for k in cfg.eval.k if k > cfg.eval.n]
    if bad:
        return [f"eval.k: pass@k needs k <= eval.n samples per problem; got k={bad} with eval.n={cfg.eval.n}"]
    return []


def schedules_are_piecewise(cfg: RunConfig) -> list[str]:
    out = []
    for i, s in enumerate(cfg.reward.schedules):
        if len(s.values) != len(s.boundaries) + 1:
            out.append(
                f"reward.schedules.{i}.values: needs len(boundaries) + 1 = {len(s.boundaries) + 1} values, "
                f"got {len(s.values)}"
            )
        if any(b >= c for b, c in zip(s.boundaries, s.boundaries[1:], strict=False)):
            out.append(f"reward.schedules.{i}.boundaries: must be strictly increasing, got {s.boundaries}")
    return out


def _spec_verifiers(spec: Any) -> Iterator[tuple[str, str]]:
    """(field path under the spec, verifier name) for every verifier a dataset spec names."""
    mapping = getattr(spec, "mapping", None)
    if mapping is not None and hasattr(mapping, "verifier_params"):  # FieldMapping
        yield "mapping.verifier", mapping.verifier
        if mapping.verifier == "combined":
            for j, comp in enumerate(mapping.verifier_params.get("components", [])):
                if isinstance(comp, dict) and isinstance(comp.get("verifier"), str):
                    yield f"mapping.verifier_params.components.{j}.verifier", comp["verifier"]
    elif mapping is not None and hasattr(mapping, "verifier_for"):  # VerlMapping
        for key in ("math_verifier", "default_verifier", "format_verifier"):
            yield f"mapping.{key}", getattr(mapping, key)
        for source, name in mapping.verifiers.items():
            yield f"mapping.verifiers.{source}", name
        for alias, name in mapping.verifier_aliases.items():
            yield f"mapping.verifier_aliases.{alias}", name
    kwargs = getattr(spec, "kwargs", None)
    if isinstance(kwargs, dict) and isinstance(kwargs.get("verifier"), str):
        yield "kwargs.verifier", kwargs["verifier"]


def _check_names(registry: Registry[Any], named: list[tuple[str, str]]) -> list[str]:
    out = []
    for path, name in named:
        try:
            registry.check(name)
        except ValueError as exc:
            out.append(f"{path}: {exc}")
    return out


def known_verifiers(cfg: RunConfig) -> list[str]:
    """Verifier names in data specs and reward schedules. With reward.server_url the server's registry
    decides (it may hold verifiers this process lacks), so names are not checked here."""
    if cfg.reward.server_url:
        return []
    named = [
        (f"data.{split}.{i}.{path}", name)
        for split in ("train", "eval", "sft")
        for i, spec in enumerate(getattr(cfg.data, split))
        for path, name in _spec_verifiers(spec)
    ]
    named += [
        (f"reward.schedules.{i}.verifiers", name)
        for i, s in enumerate(cfg.reward.schedules)
        for name in s.verifiers
    ]
    if not named:
        return []
    from rlvr.rewards.types import VERIFIERS  # the rewards package imports no torch

    return _check_names(VERIFIERS, named)


def known_generators(cfg: RunConfig) -> list[str]:
    from rlvr.data.generators import GENERATORS

    named = [
        (f"data.{split}.{i}.generator", spec.generator)
        for split in ("train", "eval", "sft")
        for i, spec in enumerate(getattr(cfg.data, split))
        if getattr(spec, "type", None) == "synthetic"
    ]
    return _check_names(GENERATORS, named)


RULES: list[Callable[[RunConfig], list[str]]] = [
    reset_needs_kl,
    reset_without_lora,
    vllm_without_lora,
    logged_is_synchronous,
    values_need_a_critic,
    filter_switches_in_list,
    update_subset_within_group,
    pass_k_within_n,
    schedules_are_piecewise,
    known_verifiers,
    known_generators,
    sharded_learner_rules,
]
"""Every cross-field rule, run in order at load."""


def non_finite(tree: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of the NaN / infinite floats anywhere in a nested dict / list (a recipe's raw tree)."""
    if isinstance(tree, float) and not math.isfinite(tree):
        yield path or "<root>"
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from non_finite(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            yield from non_finite(value, f"{path}.{i}" if path else str(i))


class RuleViolations(ValueError):
    """Every cross-field problem of a config, one per line."""


class CheckedRun(BaseModel):
    """A base of RunConfig: after the fields validate, every rule in :data:`RULES` runs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check_rules(self) -> CheckedRun:
        problems = [p for rule in RULES for p in rule(self)]  # type: ignore[arg-type]
        problems += [f"{p}: must be a finite number" for p in non_finite(self.model_dump())]
        if problems:
            raise RuleViolations("\n".join(problems))
        return self
