"""Checkpoints: everything a run needs to continue exactly where it stopped, written atomically.

```
run_dir/checkpoints/step-0004/
    model.safetensors, config.json, ...   save_pretrained: the policy (a peft model: only its adapter)
    tokenizer.json, ...                   the tokenizer
    optimizer.pt, scheduler.pt            optimizer moments and learning-rate schedule position
    rng.pt                                python, numpy, torch (CPU, CUDA) and each rollout worker's generator
    trainer_state.json                    step, learner counters, sampler position, dataset fingerprint
    config.yaml                           the resolved run config
    manifest.json                         written last: every other file with its size and sha256
```

A checkpoint is written into ``checkpoints/.tmp-step-0004-<pid>``, each file fsynced, then renamed into
place and the parent directory fsynced: a kill at any moment leaves the previous checkpoints intact and
either the whole new one or none. A checkpoint counts only when its manifest is there and every file
matches it; resuming skips (with a warning) any that does not, or that fails to load.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from rlvr.recipe_files import changed_fields

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
_PREFIX = "step-"


class CheckpointError(RuntimeError):
    """A checkpoint that is incomplete, corrupt, or does not load."""


def checkpoint_name(step: int) -> str:
    return f"{_PREFIX}{step:04d}"


def step_of(path: Path) -> int | None:
    """The step of a checkpoint directory named ``step-N``; None for any other name."""
    digits = path.name.removeprefix(_PREFIX)
    return int(digits) if path.name.startswith(_PREFIX) and digits.isdigit() else None


@dataclass
class CheckpointState:
    """What a checkpoint restores besides the model's weights."""

    step: int
    rng: dict[str, Any]
    sampler: dict[str, Any]
    fingerprint: str  # of the training samples: dataset_fingerprint()
    config: dict[str, Any]  # the resolved RunConfig, as JSON
    # the learner's part, filled in by the learner (which may live in another process)
    optimizer: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # the learner's counters (nonfinite_streak)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON state of other stateful parts (schedules...)
    tensors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # e.g. a reset reference model
    objects: dict[str, Any] = field(default_factory=dict)  # torch-saved state of other parts (a critic)


@dataclass
class Checkpoint:
    """A verified checkpoint read into memory: applying it cannot fail half-way for want of a file."""

    path: Path
    state: CheckpointState
    weights: dict[str, torch.Tensor]
    adapter: bool  # the weights are a peft adapter's
    sharded: bool = False  # weights and optimizer are in the dcp/ folder (a sharded learner's), not loaded

    @property
    def run_dir(self) -> Path:
        return self.path.parent.parent


# ---- random number generators and the dataset fingerprint -------------------------------------------


def _numpy_state() -> tuple[str, np.ndarray, int, int, float]:
    """numpy's global MT19937 state (``get_state()``'s legacy tuple form, the default)."""
    state = np.random.get_state()
    assert isinstance(state, tuple), "np.random.get_state() is a tuple unless legacy=False"
    return state


def rng_state(engine_states: list[torch.Tensor] | None) -> dict[str, Any]:
    """Every random stream a step draws from: this process's, and each rollout worker's generator."""
    name, keys, pos, has_gauss, gauss = _numpy_state()
    state = {
        "python": random.getstate(),
        "numpy": [name, keys.tolist(), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "engines": None if engine_states is None else list(engine_states),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> list[torch.Tensor] | None:
    """Restore this process's streams; returns the rollout workers' generator states to hand back to them
    (None when a dead worker's stream could not be saved)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "engines" not in state:  # written before rollout workers had their own streams
        return [state["engine"]]
    return None if state["engines"] is None else list(state["engines"])


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(map(str, value))
    return value.tolist() if hasattr(value, "tolist") else str(value)


def dataset_fingerprint(samples) -> str:
    """sha256 over the samples' ids, prompts / messages and reward specs, in order; stable across processes."""
    h = hashlib.sha256()
    for s in samples:
        row = {"id": s.id, "prompt": s.prompt, "messages": s.messages, "reward": dataclasses.asdict(s.reward)}
        h.update(json.dumps(row, sort_keys=True, default=_json_default).encode())
        h.update(b"\n")
    return h.hexdigest()


# ---- writing ------------------------------------------------------------------------------------------


class DiskFullError(OSError):
    """A checkpoint could not be written because its disk is full; the previous checkpoint is intact."""


def save_checkpoint(run_dir: Path, model, tokenizer, state: CheckpointState, keep_last: int) -> Path:
    """Write ``run_dir/checkpoints/step-N`` atomically, then delete all but the ``keep_last`` newest.

    A full disk (ENOSPC, EDQUOT) raises ``DiskFullError`` saying so, after removing the partial write."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    remove_stale(root)
    final = root / checkpoint_name(state.step)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        _write_files(tmp, model, tokenizer, state)
        _write_manifest(tmp, state.step)
        _swap_into_place(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # a kill leaves it instead; remove_stale() clears it later
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            free = shutil.disk_usage(root).free
            raise DiskFullError(
                exc.errno,
                f"checkpoint of step {state.step} not written to {root}: the disk is full ({exc.strerror}; "
                f"{free / 2**20:.0f} MiB free after removing the partial write); the previous checkpoint is intact",
            ) from exc
        raise
    rotate(root, keep_last, keep=final)
    return final


def _write_files(tmp: Path, model, tokenizer, state: CheckpointState) -> None:
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(state.optimizer, tmp / "optimizer.pt")
    torch.save(state.scheduler, tmp / "scheduler.pt")
    torch.save(state.rng, tmp / "rng.pt")
    trainer_state = {
        "format": FORMAT,
        "step": state.step,
        "counters": state.counters,
        "sampler": state.sampler,
        "dataset_fingerprint": state.fingerprint,
        "extra": state.extra,
    }
    (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
    if state.tensors:
        from safetensors.torch import save_file

        (tmp / "extra").mkdir()
        for name, tensors in state.tensors.items():  # clone: tied weights share storage
            save_file(
                {k: v.detach().clone().contiguous() for k, v in tensors.items()},
                tmp / "extra" / f"{name}.safetensors",
            )
    if state.objects:
        torch.save(state.objects, tmp / "objects.pt")
    (tmp / "config.yaml").write_text(yaml.safe_dump(state.config, sort_keys=False))


def _write_manifest(tmp: Path, step: int) -> None:
    files = {}
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        _fsync(path)
        files[path.relative_to(tmp).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    manifest = tmp / MANIFEST
    manifest.write_text(json.dumps({"format": FORMAT, "step": step, "files": files}, indent=1))
    _fsync(manifest)
    for d in [*(p for p in tmp.rglob("*") if p.is_dir()), tmp]:
        _fsync(d)


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing ``final`` (a re-run of that step) is moved aside first."""
    trash = final.with_name(f".trash-{final.name}-{os.getpid()}")
    if final.exists():
        os.replace(final, trash)
    os.replace(tmp, final)
    _fsync(final.parent)
    shutil.rmtree(trash, ignore_errors=True)


def remove_stale(root: Path) -> None:
    """Delete temporary and discarded directories that an interrupted writer left behind."""
    for path in root.glob(".*"):
        if path.is_dir() and path.name.startswith((".tmp-", ".trash-")):
            shutil.rmtree(path, ignore_errors=True)


def rotate(root: Path, keep_last: int, keep: Path) -> None:
    """Delete the oldest complete checkpoints beyond ``keep_last`` (0 keeps all); never ``keep``."""
    if keep_last <= 0:
        return
    done = sorted(
        (step_of(p), p) for p in root.iterdir() if step_of(p) is not None and (p / MANIFEST).is_file()
    )
    for _, path in done[:-keep_last]:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)


def discard_after(run_dir: Path, step: int) -> None:
    """Remove checkpoints newer than ``step`` (resuming from an older one abandons them)."""
    root = Path(run_dir) / "checkpoints"
    newer = sorted(p for p in root.glob(f"{_PREFIX}*") if (step_of(p) or -1) > step)
    if newer:
        log.warning(
            "resuming at step %d discards the newer checkpoints %s", step, ", ".join(p.name for p in newer)
        )
    for path in newer:
        shutil.rmtree(path, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- reading ------------------------------------------------------------------------------------------


def verify(path: Path) -> str | None:
    """Why ``path`` is not a complete checkpoint, or None when its manifest and every file check out."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
    except FileNotFoundError:
        return "no manifest.json (the write did not finish)"
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable manifest.json ({exc})"
    for name, meta in files.items():
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        if file.stat().st_size != meta["size"]:
            return f"{name} has {file.stat().st_size} bytes, the manifest says {meta['size']}"
        if _sha256(file) != meta["sha256"]:
            return f"{name} does not match its sha256 in the manifest"
    return None


def read_checkpoint(path: Path) -> Checkpoint:
    """Verify and load a checkpoint into memory; CheckpointError says why it cannot be used."""
    path = Path(path)
    reason = verify(path)
    if reason:
        raise CheckpointError(f"checkpoint {path} is not usable: {reason}")
    try:
        meta = json.loads((path / "trainer_state.json").read_text())
        state = CheckpointState(
            step=int(meta["step"]),
            optimizer=torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu"),
            scheduler=torch.load(path / "scheduler.pt", weights_only=True, map_location="cpu"),
            rng=torch.load(path / "rng.pt", weights_only=True, map_location="cpu"),
            sampler=meta["sampler"],
            counters=meta["counters"],
            fingerprint=meta["dataset_fingerprint"],
            config=yaml.safe_load((path / "config.yaml").read_text()),
            extra=meta.get("extra", {}),
            tensors=_read_extra_tensors(path),
            objects=_read_objects(path),
        )
        sharded = (path / "dcp").is_dir()  # rlvr.training.dcp_checkpoint: the learner reads it itself
        weights, adapter = ({}, False) if sharded else _read_weights(path)
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(
            f"checkpoint {path} failed to load: {type(exc).__name__}: {first_line}"
        ) from exc
    return Checkpoint(path, state, weights, adapter, sharded)


def _read_extra_tensors(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    return {f.stem: load_file(f) for f in sorted((path / "extra").glob("*.safetensors"))}


def _read_objects(path: Path) -> dict[str, Any]:
    file = path / "objects.pt"
    return torch.load(file, weights_only=True, map_location="cpu") if file.is_file() else {}


def _read_weights(path: Path) -> tuple[dict[str, torch.Tensor], bool]:
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors weights in {path}")
    weights: dict[str, torch.Tensor] = {}
    for file in files:
        weights.update(load_file(file))
    return weights, (path / "adapter_config.json").is_file()


def load_weights(model, ckpt: Checkpoint) -> None:
    """Copy the checkpoint's weights into ``model``; every trainable weight must be covered."""
    if ckpt.adapter:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        result = set_peft_model_state_dict(model, ckpt.weights)
        # torch's _IncompatibleKeys subclasses a namedtuple built at run time, which mypy cannot see
        unexpected = result.unexpected_keys  # type: ignore[attr-defined]
        missing = sorted(set(get_peft_model_state_dict(model)) - set(ckpt.weights))
    else:
        result = model.load_state_dict(ckpt.weights, strict=False)
        unexpected = result.unexpected_keys
        current = model.state_dict()
        loaded_ptrs = {current[k].data_ptr() for k in ckpt.weights if k in current}
        missing = [k for k in result.missing_keys if current[k].data_ptr() not in loaded_ptrs]  # not tied
    if unexpected or missing:
        raise CheckpointError(
            f"checkpoint {ckpt.path} does not fit the model: missing {missing[:5]}, "
            f"unexpected {list(unexpected)[:5]}"
        )


def latest_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The newest checkpoint of ``run_dir`` that verifies and loads; each one skipped is warned about."""
    root = Path(run_dir) / "checkpoints"
    steps = {p: step for p in root.glob(f"{_PREFIX}*") if (step := step_of(p)) is not None and p.is_dir()}
    found = sorted(steps, key=steps.__getitem__)
    for path in reversed(found):
        try:
            return read_checkpoint(path)
        except CheckpointError as exc:
            log.warning("%s; falling back to the checkpoint before it", exc)
    return None


# ---- resuming -----------------------------------------------------------------------------------------

RESUME_SAFE = (
    *("name", "eval", "sft", "tracking", "data.train", "data.eval", "data.sft"),
    *("trainer.steps", "trainer.log_every", "trainer.eval_every", "trainer.save_every", "trainer.keep_last"),
    *("trainer.output_dir", "trainer.run_name", "trainer.resume", "trainer.resume_force"),
    *("trainer.max_nonfinite_steps", "trainer.micro_batch_size", "rollout.max_batch_size"),
    *("reward.workers", "reward.timeout_s", "reward.server_url", "model.device", "model.num_threads"),
    *("monitor", "ray", "backend", "rollout.gpu_memory_utilization"),
    *("model.gradient_checkpointing", "model.cudnn_attention", "rollout.fast_decoder", "rollout.cuda_graphs"),
    *("trainer.skip_zero_advantage", "trainer.shared_prefix"),
    *("trainer.max_tokens_per_micro_batch", "trainer.logprob_chunk_tokens", "rollout.max_kv_cache_bytes"),
    *(
        "learner.world_size",
        "learner.fsdp",
        "learner.nodes",
        "learner.offload",
        "learner.reshard_after_forward",
    ),
    *("learner.weight_sync_bucket_mb", "learner.weight_sync", "learner.timeout_s", "placement"),
)
"""Config fields that may change when resuming, since they do not change what the run optimises. Every
other field (model, algorithm, optimizer, sampling, batch shapes, seed...) must match the checkpoint's,
unless resume is forced. Notes: trainer.steps only with optim.schedule=constant (a decaying learning rate
is laid out over trainer.steps); data.train because the dataset fingerprint compares its content instead;
backend and ray.* move roles between
processes without changing the math; evaluation (eval_every, eval.*, data.eval) draws from its own generator, never the training streams.
micro_batch_size, rollout.max_batch_size, rollout.fast_decoder, rollout.cuda_graphs,
trainer.skip_zero_advantage, trainer.shared_prefix, model.num_threads and model.cudnn_attention keep the
math but not the bits (summation order, which attention kernel, which random draw goes to which
sequence): a run resumed with other values is no longer bit-identical to an uninterrupted one."""


class ResumeError(ValueError):
    """A resume that was refused: nothing to resume from, or a checkpoint of different math or data."""


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``field: old -> new`` for every field that differs and is not in RESUME_SAFE."""
    constant = old.get("optim", {}).get("schedule") == new.get("optim", {}).get("schedule") == "constant"
    # a decaying learning rate is laid out over trainer.steps
    safe = RESUME_SAFE if constant else tuple(p for p in RESUME_SAFE if p != "trainer.steps")
    return changed_fields(old, new, safe)


def _with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A saved config with the defaults of fields added since filled in (as saved if it no longer validates)."""
    from rlvr.config import RunConfig

    try:
        return RunConfig.model_validate(config).model_dump(mode="json")
    except ValueError:
        return config


def check_compatible(ckpt: Checkpoint, config: dict[str, Any], fingerprint: str, force: bool) -> None:
    """Refuse (ResumeError) a checkpoint whose math-relevant config or training data differ, unless forced."""
    problems = config_diff(_with_defaults(ckpt.state.config), config)
    if ckpt.state.fingerprint != fingerprint:
        problems.append(
            f"training data: fingerprint {ckpt.state.fingerprint[:12]} -> {fingerprint[:12]} "
            "(the samples' ids, prompts or reward specs changed)"
        )
    if not problems:
        return
    msg = f"resuming from {ckpt.path} changes what the run trains on:\n  " + "\n  ".join(problems)
    if force:
        log.warning("%s\nresuming anyway (trainer.resume_force=true)", msg)
        return
    raise ResumeError(
        msg + "\nUndo these changes, start a new run (without --resume), or pass --force-resume "
        "(trainer.resume_force=true) to continue with them."
    )


def find_resume_checkpoint(resume: str, output_dir: str, prefix: str) -> Checkpoint | None:
    """The checkpoint that ``trainer.resume`` names: None for 'never' (or 'auto' with nothing to resume);
    for 'auto' the newest complete one of the newest run ``output_dir/<prefix>*``; for a path, that
    checkpoint, or the newest complete one of that run directory."""
    if resume == "never":
        return None
    if resume == "auto":
        for run_dir in _runs_newest_first(Path(output_dir), prefix):
            ckpt = latest_checkpoint(run_dir)
            if ckpt is not None:
                return ckpt
        log.warning(
            "trainer.resume=auto: no checkpoint of a run %r under %s; starting a new run", prefix, output_dir
        )
        return None
    path = Path(resume)
    if not path.is_dir():
        raise ResumeError(f"trainer.resume={resume!r}: no such run or checkpoint directory")
    if step_of(path) is not None or (path / MANIFEST).exists():
        try:
            return read_checkpoint(path)
        except CheckpointError as exc:
            raise ResumeError(str(exc)) from None
    ckpt = latest_checkpoint(path)
    if ckpt is None:
        raise ResumeError(f"trainer.resume={resume!r}: {path / 'checkpoints'} holds no complete checkpoint")
    return ckpt


def _runs_newest_first(output_dir: Path, prefix: str) -> list[Path]:
    """Run directories named ``prefix`` or ``prefix-*``, the most recently checkpointed first."""
    if not output_dir.is_dir():
        return []
    runs = []
    for run in output_dir.iterdir():
        if run.is_dir() and (run.name == prefix or run.name.startswith(prefix + "-")):
            manifests = [m.stat().st_mtime for m in run.glob(f"checkpoints/{_PREFIX}*/{MANIFEST}")]
            if manifests:
                runs.append((max(manifests), run))
    return [run for _, run in sorted(runs, reverse=True)]
