"""The registry of environments: a name (or a ``module:attr`` path) -> an :class:`Env` subclass."""

from __future__ import annotations

from rlvr.data.sample import EnvSpec
from rlvr.envs.base import Env
from rlvr.registry import Registry

ENVS: Registry[type[Env]] = Registry("environment")


def build_env(spec: EnvSpec) -> Env:
    """A fresh environment for one trajectory, built from a sample's ``env`` spec."""
    cls = ENVS.get(spec.name)
    if not (isinstance(cls, type) and issubclass(cls, Env)):
        raise TypeError(f"environment {spec.name!r} must name a subclass of rlvr.envs.Env, got {cls!r}")
    try:
        return cls(**spec.params)
    except TypeError as exc:
        raise TypeError(f"environment {spec.name!r} with params {spec.params!r}: {exc}") from exc
