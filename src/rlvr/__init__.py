"""rlvr: reinforcement learning from verifiable rewards.

```python
import rlvr

run = rlvr.Trainer(model="Qwen/Qwen2-0.5B-Instruct", rewards=[my_reward], train_dataset=rows)
run.fit()
```

The public names below are imported on first use, so ``import rlvr`` (and ``rlvr --help``) stays fast;
heavy modules (torch, transformers) load only when a model does. See ``docs/python_api.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Trainer": "rlvr.api",
    "resolve_config": "rlvr.api",
    "sft": "rlvr.api",
    "evaluate": "rlvr.api",
    "RunConfig": "rlvr.config",
    "ConfigError": "rlvr.config",
    "load_config": "rlvr.config",
    "RewardResult": "rlvr.rewards.types",
    "VERIFIERS": "rlvr.rewards.types",
    "FieldMapping": "rlvr.data.rows",
    "Sample": "rlvr.data.sample",
    "RewardSpec": "rlvr.data.sample",
}

__all__ = [  # the keys of _EXPORTS (a test keeps them equal)
    "VERIFIERS",
    "ConfigError",
    "FieldMapping",
    "RewardResult",
    "RewardSpec",
    "RunConfig",
    "Sample",
    "Trainer",
    "__version__",
    "evaluate",
    "load_config",
    "resolve_config",
    "sft",
]

if TYPE_CHECKING:
    from rlvr.api import Trainer, evaluate, resolve_config, sft
    from rlvr.config import ConfigError, RunConfig, load_config
    from rlvr.data.rows import FieldMapping
    from rlvr.data.sample import RewardSpec, Sample
    from rlvr.rewards.types import VERIFIERS, RewardResult


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rlvr' has no attribute {name!r}")
