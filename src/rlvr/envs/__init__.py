"""Multi-turn text environments: ``reset`` / ``step``, one instance per trajectory, in a registry.

Importing this package registers the built-in environments (``guess_number``).
"""

from rlvr.envs import guess_number as _guess_number  # noqa: F401  (registers the built-in envs)
from rlvr.envs import s3 as _s3  # noqa: F401  (registers s3)
from rlvr.envs import tomap as _tomap  # noqa: F401  (registers tomap)
from rlvr.envs.base import Env, Messages, Observation, StepResult
from rlvr.envs.executor import CallOutcome, EnvExecutor
from rlvr.envs.registry import ENVS, build_env

__all__ = ["ENVS", "CallOutcome", "Env", "EnvExecutor", "Messages", "Observation", "StepResult", "build_env"]
