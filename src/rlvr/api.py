"""The public Python API: a run from a config, a model, a dataset and reward functions, then ``fit()``.

```python
import rlvr

def reward_len(completion: str, ground_truth) -> float:
    return -abs(20 - len(completion))

run = rlvr.Trainer(
    model="Qwen/Qwen2-0.5B-Instruct",
    rewards=[reward_len],
    train_dataset=dataset,                  # a datasets.Dataset or a list of row dicts
    trainer={"steps": 100}, rollout={"n": 8},
)
metrics = run.fit()
```

Everything a recipe can say, the keyword sections (or ``config=``: a :class:`RunConfig`, a dict or a
recipe path, plus ``overrides=["a.b=c"]``) say the same way, checked the same way. What is given as
Python objects is written into the run directory (``data/train.jsonl``, ``initial_model/``) and the
config points at it, so the run's ``config.yaml`` replays it with ``rlvr train``. The CLI is a layer over
this module: ``rlvr train`` is ``Trainer(config=...).fit()``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr.config import RunConfig, validate_tree
from rlvr.preflight import Command, preflight
from rlvr.recipe_files import ConfigError, apply_override, deep_merge, read_recipe
from rlvr.registry import import_path

if TYPE_CHECKING:
    from rlvr.data.rows import FieldMapping
    from rlvr.training.trainer import RLTrainer

RewardFunction = Callable[..., Any]
"""``(completion: str, ground_truth, **params) -> float | RewardResult``; ``params`` are the row's
verifier parameters. A float is the reward (no notion of right or wrong); a ``RewardResult`` also says
whether the answer is correct (for accuracy metrics)."""

_IN_MEMORY_MODEL = "<in-memory model>"  # config placeholders until the run directory exists
_IN_MEMORY_DATA = "<{split}_dataset>"


# --------------------------------------------------------------------------------------------------
# the one place a trainer is built


def build_trainer(cfg: RunConfig, run_dir: str | Path | None = None, show_progress: bool = True) -> RLTrainer:
    """An :class:`RLTrainer` with its roles, from a checked config. Every entry point (``rlvr train``,
    :class:`Trainer`) builds through here."""
    from rlvr.distributed.placement import build_roles
    from rlvr.training.trainer import RLTrainer

    return RLTrainer(cfg, build_roles(cfg), run_dir=run_dir, show_progress=show_progress)


# --------------------------------------------------------------------------------------------------
# reward functions -> verifier names


def _importable_path(fn: Callable[..., Any]) -> str | None:
    """``module:qualname`` when that path imports back to ``fn`` (so worker processes can load it)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    try:
        return f"{module}:{qualname}" if import_path(f"{module}:{qualname}") is fn else None
    except (ImportError, ValueError):
        return None


def _check_signature(fn: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(fn)
    except ValueError:  # no signature (a builtin): the first call will tell
        return
    try:
        signature.bind("completion", None)
    except TypeError:
        raise ConfigError(
            f"reward function {getattr(fn, '__name__', fn)!r}{signature} must accept (completion, "
            "ground_truth) and return a float or a RewardResult"
        ) from None


def reward_name(fn: RewardFunction | str) -> str:
    """The verifier name ``fn`` is scored under: a string as is (a verifier name or ``module:attr``); a
    function importable from its module by ``module:qualname``; any other callable (a lambda, a closure,
    a function of ``__main__``) is registered in this process under its ``__name__``."""
    if isinstance(fn, str):
        return fn
    if not callable(fn):
        raise ConfigError(f"a reward function must be callable or a verifier name, got {type(fn).__name__}")
    _check_signature(fn)
    path = _importable_path(fn)
    if path is not None:
        return path
    from rlvr.rewards.types import VERIFIERS

    raw = getattr(fn, "__name__", "reward")
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in raw).strip("_") or "reward"
    name, i = base, 1
    while VERIFIERS.peek(name) is not None and VERIFIERS.peek(name) is not fn:
        name, i = f"{base}_{i}", i + 1
    if VERIFIERS.peek(name) is None:
        VERIFIERS.register(name)(fn)
    return name


def reward_spec(
    rewards: Sequence[RewardFunction | str], weights: Sequence[float] | None = None
) -> tuple[str, dict[str, Any]]:
    """(verifier, verifier_params) that score with every reward: one verifier, or ``combined`` over them."""
    names = [reward_name(f) for f in rewards]
    weights = list(weights) if weights is not None else [1.0] * len(names)
    if len(weights) != len(names):
        raise ConfigError(f"reward_weights has {len(weights)} weights for {len(names)} reward functions")
    if len(names) == 1 and weights[0] == 1.0:
        return names[0], {}
    components = [{"verifier": n, "weight": float(w)} for n, w in zip(names, weights, strict=True)]
    return "combined", {"components": components}


# --------------------------------------------------------------------------------------------------
# datasets -> rows and a mapping


def _rows(dataset: Any, split: str) -> list[dict[str, Any]]:
    if isinstance(dataset, str | Path):
        raise ConfigError(
            f"{split}_dataset: give rows (a datasets.Dataset or a list of dicts); a file goes in the "
            f"config's data.{split} as a dataset spec"
        )
    rows = [dict(r) for r in dataset] if isinstance(dataset, Iterable) else []
    if not rows:
        raise ConfigError(f"{split}_dataset: expected a non-empty datasets.Dataset or list of row dicts")
    return rows


def default_mapping(
    row: Mapping[str, Any], verifier: str | None, params: dict[str, Any]
) -> FieldMapping | None:
    """How rows like ``row`` become samples: native rlvr rows (with ``reward``) as they are when no reward
    function is given; otherwise ``prompt`` (text, or chat messages) or ``messages``, and ``answer`` /
    ``ground_truth`` / ``solution`` as the ground truth; every other column is kept as metadata."""
    from rlvr.data.rows import NATIVE_FIELDS, FieldMapping

    if verifier is None and "reward" in row and set(row) <= set(NATIVE_FIELDS):
        return None
    prompt_field = "prompt" if "prompt" in row else "messages" if "messages" in row else "prompt"
    messages = isinstance(row.get(prompt_field), list)
    answer = next((k for k in ("answer", "ground_truth", "solution") if k in row), None)
    return FieldMapping(
        prompt_key=None if messages else prompt_field,
        messages_key=prompt_field if messages else None,
        answer_key=answer,
        id_key="id" if "id" in row else None,
        data_source_key="data_source" if "data_source" in row else None,
        verifier=verifier or "exact_match",
        verifier_params=params,
    )


def _write_jsonl(rows: list[dict[str, Any]], path: Path, split: str) -> None:
    from rlvr.data.errors import DataFormatError

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for i, row in enumerate(rows, start=1):
            try:
                f.write(json.dumps(row) + "\n")
            except (TypeError, ValueError) as exc:
                raise DataFormatError(f"{split}_dataset row {i}: cannot be written as JSON ({exc})") from None


def _spec_verifier_names(spec: Any) -> list[str]:
    m = getattr(spec, "mapping", None)
    if m is None or not hasattr(m, "verifier_params"):
        return []
    names = [m.verifier]
    if m.verifier == "combined":
        names += [c["verifier"] for c in m.verifier_params.get("components", []) if isinstance(c, dict)]
    return names


# --------------------------------------------------------------------------------------------------
# configs


def resolve_config(
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    overrides: Sequence[str] = (),
    **sections: Any,
) -> RunConfig:
    """A checked :class:`RunConfig` from a config object, a dict or a recipe path, with recipe-shaped
    ``sections`` (``trainer={"steps": 5}``) merged over it and dotted ``overrides`` applied last."""
    if isinstance(config, RunConfig):
        tree, source = config.model_dump(mode="json"), "RunConfig"
    elif isinstance(config, str | Path):
        tree, source = read_recipe(config), str(config)
    else:
        tree, source = dict(config or {}), "keyword arguments"
    tree = deep_merge(tree, sections)
    for item in overrides:
        apply_override(tree, item)
    return validate_tree(tree, source + (" with overrides " + " ".join(overrides) if overrides else ""))


class Trainer:
    """One RL run: a config, a policy, data and rewards. ``fit()`` trains and returns the final eval
    metrics; the run directory holds metrics, checkpoints, samples and the final model.

    - ``model``: a hub id or a local directory (``model.path``), or a ``transformers`` model object with
      its ``tokenizer``; None keeps the config's model (e.g. a tiny one).
    - ``rewards``: reward functions ``(completion, ground_truth, **params) -> float | RewardResult``, or
      verifier names (``"math"``); several are summed (weighted by ``reward_weights``).
    - ``train_dataset`` / ``eval_dataset``: a ``datasets.Dataset`` or a list of row dicts, read with
      ``mapping`` (a :class:`~rlvr.data.rows.FieldMapping`; by default ``prompt`` and ``answer``).
    - ``config``, ``overrides`` and keyword sections: see :func:`resolve_config`.

    Everything is checked here, before any model or data is loaded; ``fit()`` builds and trains.
    """

    def __init__(
        self,
        model: Any = None,
        rewards: RewardFunction | str | Sequence[RewardFunction | str] | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        *,
        tokenizer: Any = None,
        reward_weights: Sequence[float] | None = None,
        mapping: FieldMapping | None = None,
        config: RunConfig | Mapping[str, Any] | str | Path | None = None,
        overrides: Sequence[str] = (),
        show_progress: bool = True,
        **sections: Any,
    ) -> None:
        self.show_progress = show_progress
        self._model_object, self._tokenizer = None, tokenizer
        if model is not None and not isinstance(model, str | Path):
            if tokenizer is None:
                raise ConfigError("a model object needs its tokenizer: Trainer(model, tokenizer=...)")
            self._model_object = model
            sections = deep_merge({"model": {"path": _IN_MEMORY_MODEL, "tiny": None}}, sections)
        elif model is not None:
            sections = deep_merge({"model": {"path": str(model), "tiny": None}}, sections)
        verifier: str | None = None
        params: dict[str, Any] = {}
        if rewards is not None:
            listed = [rewards] if isinstance(rewards, str) or callable(rewards) else list(rewards)
            verifier, params = reward_spec(listed, reward_weights)
        self._rows: dict[str, list[dict[str, Any]]] = {}
        data: dict[str, Any] = {}
        for split, dataset in (("train", train_dataset), ("eval", eval_dataset)):
            if dataset is None:
                continue
            rows = self._rows[split] = _rows(dataset, split)
            m = mapping or default_mapping(rows[0], verifier, params)
            if mapping is not None and verifier is not None:
                m = mapping.model_copy(update={"verifier": verifier, "verifier_params": params})
            spec: dict[str, Any] = {"type": "jsonl", "path": _IN_MEMORY_DATA.format(split=split)}
            data[split] = [spec | ({"mapping": m.model_dump(mode="json")} if m is not None else {})]
        if data:
            sections = deep_merge({"data": data}, sections)
        self.config: RunConfig = resolve_config(config, overrides, **sections)
        self._check_local_rewards()
        self._check_rows()
        self.rl: RLTrainer | None = None

    # ---- checks made before anything is built ---------------------------------------------------------
    def _check_local_rewards(self) -> None:
        """Rewards registered only in this process cannot be scored in worker processes or on a server."""
        from rlvr.rewards.types import VERIFIERS

        def local_only(name: str) -> bool:
            fn = VERIFIERS.peek(name)
            return fn is not None and _importable_path(fn) is None

        specs = [*self.config.data.train, *self.config.data.eval]
        local = sorted({n for spec in specs for n in _spec_verifier_names(spec) if local_only(n)})
        r, ray = self.config.reward, self.config.ray
        remote = r.workers > 0 or r.server_url or (self.config.backend == "ray" and ray.reward_workers > 0)
        if local and remote:
            raise ConfigError(
                f"reward functions {local} are defined in __main__ or inside a function, so reward worker "
                "processes cannot import them; define them at the top of a module, or score in this "
                "process (reward.workers=0, no reward.server_url, ray.reward_workers=0)"
            )

    def _check_rows(self) -> None:
        """Convert the in-memory rows now, so a bad row fails here with its number and field."""
        from rlvr.data.loaders import rows_to_samples

        for split, rows in self._rows.items():
            spec = getattr(self.config.data, split)[0]
            rows_to_samples(enumerate(rows, start=1), f"{split}_dataset", spec.mapping, id_prefix=split)

    # ---- building and running ----------------------------------------------------------------------------
    def _materialise(self) -> Path | None:
        """Write the in-memory model and rows into a new run directory and point the config at them."""
        if self._model_object is None and not self._rows:
            return None
        from rlvr.tracking.run_dir import new_run_dir

        t = self.config.trainer
        run_dir = new_run_dir(t.output_dir, self.config.name, t.run_name)
        tree = self.config.model_dump(mode="json")
        for split, rows in self._rows.items():
            path = run_dir / "data" / f"{split}.jsonl"
            _write_jsonl(rows, path, split)
            tree["data"][split][0]["path"] = str(path)
        if self._model_object is not None:
            path = run_dir / "initial_model"
            self._model_object.save_pretrained(path)
            self._tokenizer.save_pretrained(path)
            tree["model"]["path"] = str(path)
        self.config = validate_tree(tree, "Trainer")
        return run_dir

    def build(self) -> RLTrainer:
        """Check the machine (model directory, data files, reward server), then build the trainer and its
        roles (this loads the model). ``fit()`` calls it when needed."""
        if self.rl is None:
            preflight(self.config, "train")  # in-memory model and rows are placeholders here, skipped
            run_dir = self._materialise()
            self.rl = build_trainer(self.config, run_dir=run_dir, show_progress=self.show_progress)
        return self.rl

    @property
    def run_dir(self) -> Path | None:
        """The run directory, once built."""
        return None if self.rl is None else self.rl.run_dir

    def fit(self) -> dict[str, float]:
        """Train for ``trainer.steps`` and return the final eval metrics (``{}`` without eval data). The
        final model is saved to ``run_dir / "final"``."""
        trainer = self.build()
        try:
            return trainer.fit()
        finally:
            trainer.close()

    def evaluate(self) -> dict[str, float]:
        """Evaluate the current policy on the eval data (before ``fit()``; it builds the trainer)."""
        return self.build().evaluate()


# --------------------------------------------------------------------------------------------------
# the other commands


def sft(config: RunConfig, run_dir: str | Path | None = None, show_progress: bool = True) -> Path:
    """Supervised fine-tuning on ``data.sft`` (or ``data.train``) into ``run_dir`` (default: a new one
    under ``trainer.output_dir``); returns the saved model's directory."""
    from rlvr.tracking.run_dir import new_run_dir
    from rlvr.training.sft import run_sft

    preflight(config, "sft")
    t = config.trainer
    run_dir = Path(run_dir) if run_dir else new_run_dir(t.output_dir, f"{config.name}-sft", t.run_name)
    return run_sft(config, run_dir, show_progress=show_progress)


def evaluate(
    config: RunConfig, model: str | None = None, output: str | None = None, run_dir: str | None = None
) -> dict[str, float]:
    """Accuracy, pass@k and maj@k of ``model`` (default: the config's) on ``data.eval``."""
    from rlvr.eval.run import run_eval

    preflight(config, "eval", model=model)
    return run_eval(config, model=model, output=output, run_dir=run_dir)


def check(config: RunConfig, command: Command = "train", model: str | None = None) -> None:
    """Every check a command makes before it loads anything (the config itself is already checked)."""
    preflight(config, command, model=model)
