"""The built-in verifiers; importing this package registers them all in ``VERIFIERS``.

Heavy libraries (math-verify / sympy, reasoning-gym) are imported on first use, not here.
"""

from rlvr.rewards.verifiers import (
    choice,
    code,
    detection,
    format,
    gym,
    math,
    reward_model,
    spurious,
    text,
    vlaa,
    vtriune,
)

__all__ = [
    "choice",
    "code",
    "detection",
    "format",
    "gym",
    "math",
    "reward_model",
    "spurious",
    "text",
    "vlaa",
    "vtriune",
]
