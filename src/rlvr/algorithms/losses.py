"""Policy losses: per-token surrogate objectives, aggregated by the caller's ``aggregate``.

Every loss has the signature

    fn(logprobs (B, T), old_logprobs (B, T), advantages (B, T), response_mask (B, T), cfg, aggregate,
       *, behaviour_logprobs (B, T) | None = None) -> (scalar loss, {name: scalar metric})

Each is registered with ``register_policy_loss(name, zero_at_zero_advantage=...)``: both built-ins are
-A times a function of the ratio, so a row whose advantage is 0 everywhere has loss and gradient exactly 0
and the learner may skip it (the ``zero_advantage`` filter).

``aggregate(loss_mat, mask)`` is a partial of a registered loss aggregation carrying the mini-batch's
global counts, so that micro-batch losses sum to the mini-batch loss. Metrics are detached means over
the valid tokens of the tensors given (a micro-batch, when the caller splits).

Truncated importance sampling (TIS; Yao et al. 2025, "Your Efficient RL Framework Secretly Brings You
Off-Policy RL Training"): when rollouts come from another engine (vLLM) or a stale policy, passing their
``behaviour_logprobs`` with ``cfg.tis_cap`` set weights each token's loss by
w_t = min(pi_old(y_t) / pi_behaviour(y_t), tis_cap), detached.
"""

from collections.abc import Callable

import torch
from torch import Tensor

from .config import AlgorithmConfig
from .registries import register_policy_loss

Aggregate = Callable[[Tensor, Tensor], Tensor]

LOG_RATIO_CLAMP = 20.0
"""Log importance ratios are clamped to [-20, 20] before exp, so one wild token cannot overflow."""


def _check(*tensors: Tensor) -> None:
    shape = tensors[0].shape
    assert len(shape) == 2, f"expected (B, T) tensors, got {tuple(shape)}"
    for t in tensors[1:]:
        assert t.shape == shape, f"shape mismatch: {tuple(t.shape)} != {tuple(shape)}"


def _frac(event: Tensor, subset: Tensor) -> Tensor:
    """Fraction of ``subset``'s tokens where ``event`` holds (both bool (B, T)); 0 for an empty subset."""
    n = subset.sum()
    return ((event & subset).sum() / n.clamp_min(1)).float()


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of x over mask (bool (B, T)), detached; 0 when the mask is empty."""
    x = x.detach()
    return torch.where(mask, x, torch.zeros_like(x)).sum() / mask.sum().clamp_min(1)


def _masked_extreme(x: Tensor, mask: Tensor, largest: bool) -> Tensor:
    """Max (or min) of x over mask, detached; 0 when the mask is empty."""
    x = x.detach()
    fill = torch.full_like(x, -torch.inf if largest else torch.inf)
    picked = torch.where(mask, x, fill)
    value = picked.max() if largest else picked.min()
    return torch.where(mask.any(), value, torch.zeros_like(value))


def _ratio_metrics(logprobs: Tensor, old_logprobs: Tensor, ratio: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """ratio_mean / max / min and approx_kl = mean(old - new) (k1 of pi_old against pi)."""
    return {
        "ratio_mean": _masked_mean(ratio, mask),
        "ratio_max": _masked_extreme(ratio, mask, largest=True),
        "ratio_min": _masked_extreme(ratio, mask, largest=False),
        "approx_kl": _masked_mean(old_logprobs - logprobs, mask),
    }


def _tis(
    loss_mat: Tensor,
    old_logprobs: Tensor,
    behaviour_logprobs: Tensor | None,
    mask: Tensor,
    cfg: AlgorithmConfig,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Weight loss_mat by w = min(exp(old - behaviour), tis_cap), detached; no-op unless both are set.

    Reports statistics of the raw ratio exp(old - behaviour) and the fraction of tokens truncated.
    """
    if behaviour_logprobs is None or cfg.tis_cap is None:
        return loss_mat, {}
    _check(loss_mat, behaviour_logprobs)
    log_ratio = (old_logprobs - behaviour_logprobs).detach().clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    raw = torch.exp(log_ratio)  # (B, T)
    metrics = {
        "tis_ratio_mean": _masked_mean(raw, mask),
        "tis_ratio_max": _masked_extreme(raw, mask, largest=True),
        "tis_clip_frac": _frac(raw > cfg.tis_cap, mask),
    }
    return loss_mat * raw.clamp(max=cfg.tis_cap), metrics


def _clip_diagnostics(
    low: Tensor, high: Tensor, old_logprobs: Tensor, mask: Tensor, threshold: float
) -> dict[str, Tensor]:
    """Spurious Rewards (Shao et al. 2025) clipping bias: clip fractions among tokens whose old
    probability is above ``threshold`` (high) and the rest (low). With random rewards E[A] = 0 and only
    clipping yields a net gradient; high-probability tokens rarely reach the upper bound 1 + eps_high."""
    highprob = (torch.exp(old_logprobs.detach()) > threshold) & mask
    lowprob = ~highprob & mask
    return {
        "clip_frac_low_highprob": _frac(low, highprob),
        "clip_frac_high_highprob": _frac(high, highprob),
        "clip_frac_low_lowprob": _frac(low, lowprob),
        "clip_frac_high_lowprob": _frac(high, lowprob),
        "token_frac_highprob": _frac(highprob, mask),
    }


@register_policy_loss("ppo_clip", zero_at_zero_advantage=True)
def ppo_clip(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    cfg: AlgorithmConfig,
    aggregate: Aggregate,
    *,
    behaviour_logprobs: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO clipped surrogate (Schulman et al. 2017) with clip-higher (DAPO) and dual-clip (Ye et al. 2020).

    r = exp(log pi - log pi_old); l = max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high));
    dual-clip (cfg.dual_clip_c = c): l = min(l, -c A) where A < 0. ``cfg.clip=False``: l = -A r.
    A clipped token has zero gradient. clip_frac_low counts A < 0, r < 1 - eps_low; clip_frac_high
    counts A > 0, r > 1 + eps_high; dual_clip_frac counts tokens where -c A is the active bound.
    """
    _check(logprobs, old_logprobs, advantages, response_mask)
    mask = response_mask > 0  # (B, T) bool
    old_logprobs, adv = old_logprobs.detach(), advantages.detach()
    ratio = torch.exp((logprobs - old_logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))  # (B, T)
    loss_mat = -adv * ratio
    low = high = dual = torch.zeros_like(mask)
    if cfg.clip:
        clipped = -adv * ratio.clamp(1 - cfg.eps_low, 1 + cfg.eps_high)
        loss_mat = torch.maximum(loss_mat, clipped)
        low = (adv < 0) & (ratio < 1 - cfg.eps_low)
        high = (adv > 0) & (ratio > 1 + cfg.eps_high)
        if cfg.dual_clip_c is not None:
            bound = -adv * cfg.dual_clip_c
            dual = (adv < 0) & (bound < loss_mat)
            loss_mat = torch.where(dual, bound, loss_mat)
    loss_mat, tis_metrics = _tis(loss_mat, old_logprobs, behaviour_logprobs, mask, cfg)
    metrics = {
        "clip_frac_low": _frac(low, mask),
        "clip_frac_high": _frac(high, mask),
        "clip_frac": _frac(low | high, mask),
        "dual_clip_frac": _frac(dual, mask),
        **_ratio_metrics(logprobs, old_logprobs, ratio, mask),
        **_clip_diagnostics(low, high, old_logprobs, mask, cfg.clip_diag_prob_threshold),
        **tis_metrics,
    }
    return aggregate(loss_mat, response_mask), metrics


@register_policy_loss("vanilla_pg", zero_at_zero_advantage=True)
def vanilla_pg(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    cfg: AlgorithmConfig,
    aggregate: Aggregate,
    *,
    behaviour_logprobs: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """REINFORCE (Williams 1992): l = -A log pi(y_t), so grad = -A grad log pi, the on-policy policy
    gradient. No ratio enters the loss; ratio statistics are reported to show how off-policy it is."""
    _check(logprobs, old_logprobs, advantages, response_mask)
    mask = response_mask > 0  # (B, T) bool
    old_logprobs = old_logprobs.detach()
    loss_mat = -advantages.detach() * logprobs
    loss_mat, tis_metrics = _tis(loss_mat, old_logprobs, behaviour_logprobs, mask, cfg)
    ratio = torch.exp((logprobs - old_logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    metrics = {**_ratio_metrics(logprobs, old_logprobs, ratio, mask), **tis_metrics}
    return aggregate(loss_mat, response_mask), metrics
