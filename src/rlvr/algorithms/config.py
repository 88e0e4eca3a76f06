"""Configuration of the RL math: which estimator, loss, KL and aggregation, and their coefficients."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .registries import ADVANTAGES, KL_ESTIMATORS, LOSS_AGGREGATIONS, POLICY_LOSSES


class AlgorithmConfig(BaseModel):
    """The knobs of the objective. Names of pieces are looked up in the registries of
    :mod:`rlvr.algorithms`; a ``module:attr`` path plugs in user code."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    advantage: str = "grpo"
    """Advantage estimator: grpo | dr_grpo | rloo | reinforce_pp | reinforce | gae, or module:attr."""
    norm_adv_by_std: bool = True
    """GRPO: divide group-centred rewards by the group std (False gives Dr. GRPO's unscaled advantage)."""
    adv_eps: float = Field(1e-6, gt=0)
    """Added to standard deviations before dividing."""
    gamma: float = Field(1.0, ge=0, le=1)
    """Discount for token-level returns (reinforce_pp, gae)."""
    lam: float = Field(1.0, ge=0, le=1)
    """GAE lambda."""

    policy_loss: str = "ppo_clip"
    """Policy loss: ppo_clip (with clip-higher and optional dual-clip) | vanilla_pg, or module:attr."""
    eps_low: float = Field(0.2, ge=0)
    """Lower clip range: the ratio is clipped at 1 - eps_low."""
    eps_high: float = Field(0.2, ge=0)
    """Upper clip range: the ratio is clipped at 1 + eps_high (DAPO clip-higher: 0.28)."""
    dual_clip_c: float | None = Field(None, gt=1)
    """Dual-clip constant c (Ye et al. 2020): for negative advantages the loss is bounded by -c * A."""
    clip: bool = True
    """False disables ratio clipping entirely (the Spurious Rewards ablation)."""
    clip_diag_prob_threshold: float = Field(0.8, ge=0, le=1)
    """Clipping-bias diagnostics (Spurious Rewards): tokens whose old probability exp(old_logprob) exceeds
    this are "high-probability"; clip fractions are reported separately for them and for the rest."""
    tis_cap: float | None = Field(None, gt=0)
    """Truncated importance sampling cap (TIS) for rollouts from a stale or different engine: the per-token
    loss is weighted by min(pi_old / pi_behaviour, tis_cap). None disables it."""

    loss_agg: str = "token_mean"
    """Loss aggregation: token_mean | seq_mean_token_mean | seq_mean_token_sum | seq_mean_token_sum_norm."""
    loss_agg_norm_len: int | None = Field(None, gt=0)
    """Constant length for seq_mean_token_sum_norm (Dr. GRPO); defaults to the rollout's max_new_tokens."""

    kl_coef: float = Field(0.0, ge=0)
    """Coefficient of the KL to the reference policy. 0 means no reference model is loaded at all."""
    kl_estimator: str = "k3"
    """KL estimator: k1 | k2 | k3 (Schulman's approximations), or module:attr."""
    kl_in_reward: bool = False
    """True: subtract kl_coef * KL from token rewards (PPO/RLHF style); False: add it to the loss (GRPO)."""
    entropy_coef: float = Field(0.0, ge=0)
    """Coefficient of the entropy bonus (subtracted from the loss)."""
    num_update_samples_per_prompt: int | None = Field(None, ge=1)
    """RaML: only this many of each prompt's rollout.n samples, drawn at random (seeded by trainer.seed and
    the update), enter the policy loss; advantages still use the whole group. None: every sample."""

    @field_validator("advantage")
    @classmethod
    def _known_advantage(cls, v: str) -> str:
        return ADVANTAGES.check(v)

    @field_validator("policy_loss")
    @classmethod
    def _known_policy_loss(cls, v: str) -> str:
        return POLICY_LOSSES.check(v)

    @field_validator("loss_agg")
    @classmethod
    def _known_loss_agg(cls, v: str) -> str:
        return LOSS_AGGREGATIONS.check(v)

    @field_validator("kl_estimator")
    @classmethod
    def _known_kl_estimator(cls, v: str) -> str:
        return KL_ESTIMATORS.check(v)
