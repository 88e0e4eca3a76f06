"""Per-token estimators of KL(pi || pi_ref) from sampled tokens, registered by name.

Schulman (2020), "Approximating KL Divergence" (http://joschu.net/blog/kl-approx.html). With tokens
sampled from pi and log r = log pi_ref - log pi:

    k1 = -log r                  unbiased, high variance, can be negative
    k2 = (log r)^2 / 2           biased, low variance, >= 0
    k3 = (r - 1) - log r         unbiased, low variance, >= 0 (GRPO, ProRL)

Every estimator has the signature ``fn(logprobs (B, T), ref_logprobs (B, T)) -> (B, T)``; masking and
aggregation are the caller's.
"""

import torch
from torch import Tensor

from .registries import KL_ESTIMATORS

LOG_RATIO_CLAMP = 20.0
"""k3 clamps log r to [-20, 20] so that exp(log r) stays finite (exp(20) ~ 4.9e8) when the policy and
the reference disagree wildly; gradients vanish beyond the clamp, which only affects such outliers."""


def _check(logprobs: Tensor, ref_logprobs: Tensor) -> None:
    assert logprobs.shape == ref_logprobs.shape, (
        f"logprobs {tuple(logprobs.shape)} != ref_logprobs {tuple(ref_logprobs.shape)}"
    )


@KL_ESTIMATORS.register("k1")
def k1(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k1 = log pi - log pi_ref. (B, T) -> (B, T)"""
    _check(logprobs, ref_logprobs)
    return logprobs - ref_logprobs


@KL_ESTIMATORS.register("k2")
def k2(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k2 = (log pi - log pi_ref)^2 / 2. (B, T) -> (B, T)"""
    _check(logprobs, ref_logprobs)
    return 0.5 * (logprobs - ref_logprobs) ** 2


@KL_ESTIMATORS.register("k3")
def k3(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k3 = exp(log r) - log r - 1 with log r = clamp(log pi_ref - log pi, -20, 20). (B, T) -> (B, T)"""
    _check(logprobs, ref_logprobs)
    log_ratio = (ref_logprobs - logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return torch.exp(log_ratio) - log_ratio - 1


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, estimator: str) -> Tensor:
    """Per-token KL (B, T) by the estimator registered as ``estimator`` (or a ``module:attr`` path)."""
    return KL_ESTIMATORS.get(estimator)(logprobs, ref_logprobs)
