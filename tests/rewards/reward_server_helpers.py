"""Verifiers for the reward server tests, named ``<this module>:<fn>`` so the server's workers import them."""

import os
import signal
from pathlib import Path

import numpy as np

from rlvr.rewards import RewardResult


def die_once(completion, ground_truth, *, marker):
    """SIGKILLs its own worker on the first call (the one that creates ``marker``); then scores 1."""
    try:
        Path(marker).open("x").close()
    except FileExistsError:
        return RewardResult(1.0, True, {"pid": os.getpid()})
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def always_die(completion, ground_truth):
    os.kill(os.getpid(), signal.SIGKILL)


def numpy_info(completion, ground_truth):
    """Returns numpy values, a tuple, a set and non-finite floats in its info; echoes the ground truth."""
    info = {
        "array": np.arange(3, dtype=np.int64),
        "scalar": np.float32(0.5),
        "flag": np.bool_(True),
        "pair": (1, 2),
        "tags": {"b", "a"},
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "gt": ground_truth,
        4: "int key",
    }
    return RewardResult(np.float64(0.25), bool(np.bool_(True)), info)
