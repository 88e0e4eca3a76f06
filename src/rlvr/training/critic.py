"""The learned critic of PPO: a value head on a causal LM backbone, its own optimizer, its update.

``V(s_t)`` estimates the return from the state before response token t, so it is read from the hidden
state of the token before t: the columns P-1 .. P+R-2 of a :class:`~rlvr.training.batch.TokenBatch`, the
same alignment as the policy's log-probs. Values at observation tokens are computed and ignored (the
mask is 0 there; ``gae`` skips them).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from rlvr.algorithms import LOSS_AGGREGATIONS
from rlvr.algorithms.value import clipped_value_loss, explained_variance
from rlvr.config import OptimConfig, RunConfig, TrainerConfig
from rlvr.models.load import add_lora
from rlvr.training.batch import TokenBatch
from rlvr.training.critic_config import CriticConfig
from rlvr.training.optim import build_optimizer


class ValueModel(nn.Module):
    """A transformer backbone (no LM head) and a linear value head, initialised to output 0."""

    def __init__(self, backbone: nn.Module, hidden_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, position_ids: Tensor) -> Tensor:
        """Values (B, T) at every position."""
        out = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        )
        hidden = out.last_hidden_state  # (B, T, H)
        # a copy, not a view: FSDP2 (a sharded critic) hooks its backward on the output, which a view hides
        return self.head(hidden.to(self.head.weight.dtype)).squeeze(-1).clone()


def build_value_model(policy: nn.Module, cfg: CriticConfig) -> ValueModel:
    """A value model on a copy of the policy's backbone (or on the backbone of ``cfg.path``); with
    ``cfg.lora`` only LoRA adapters on that backbone (and the head) are trainable."""
    source: Any = policy
    if cfg.path is not None:
        from transformers import AutoModelForCausalLM

        source = AutoModelForCausalLM.from_pretrained(cfg.path)
    elif hasattr(policy, "peft_config"):  # a LoRA policy: the base model with its (starting) adapter merged
        peft_policy: Any = copy.deepcopy(policy)
        source = peft_policy.merge_and_unload()
    backbone = copy.deepcopy(getattr(source, source.base_model_prefix))
    backbone.requires_grad_(True)
    if cfg.lora is not None:
        backbone = add_lora(backbone, cfg.lora, "FEATURE_EXTRACTION")
    device = next(policy.parameters()).device
    return ValueModel(backbone, source.config.hidden_size).to(device)


def build_critic(cfg: RunConfig, policy: nn.Module) -> Critic | None:
    """The run's critic (a value model on a copy of ``policy``'s starting weights), or None without a
    ``critic:`` section."""
    if cfg.critic is None:
        return None
    return Critic(build_value_model(policy, cfg.critic), cfg.critic, cfg.trainer, cfg.trainer.steps)


class Critic:
    """The value model, its AdamW optimizer and LR schedule, and the clipped value-loss update."""

    def __init__(
        self, model: ValueModel, cfg: CriticConfig, trainer: TrainerConfig, total_steps: int
    ) -> None:
        self.model, self.cfg, self.trainer_cfg = model, cfg, trainer
        optim = OptimConfig.model_validate(
            {
                "lr": cfg.lr,
                "weight_decay": cfg.weight_decay,
                "max_grad_norm": cfg.max_grad_norm,
                "warmup_steps": cfg.lr_warmup_steps,
            }
        )
        self.optimizer, self.scheduler = build_optimizer(model, optim, total_steps)
        self.aggregate = LOSS_AGGREGATIONS.get("token_mean")
        self.device = next(model.parameters()).device

    def _values(self, mb: TokenBatch) -> Tensor:
        """Values (b, R) of the states before each response token."""
        P, R = mb.prompt_width, mb.response_width
        v = self.model(mb.input_ids[:, :-1], mb.attention_mask[:, :-1], mb.position_ids[:, :-1])  # (b, P+R-1)
        return v[:, P - 1 : P - 1 + R]

    @torch.no_grad()
    def values(self, batch: TokenBatch) -> Tensor:
        """Values (B, R) on ``batch``, no gradient, 0 outside the response mask."""
        was_training = self.model.training
        self.model.eval()
        out = torch.zeros(batch.size, batch.response_width)
        mine = self._rows(batch.size)
        share = batch.select(mine)
        for sl in self._micro_slices(share.size):
            if sl is None:  # a zero-weighted pass: the other ranks' collectives need this one
                self._values(self._filler(batch))
                continue
            out[mine[sl]] = self._values(share.select(sl).to(self.device)).float().cpu()
        self.model.train(was_training)
        return self._sum(out) * batch.response_mask

    def update(self, batch: TokenBatch, returns: Tensor, old_values: Tensor) -> dict[str, float]:
        """Epochs x shuffled mini-batches x micro-batches of the clipped value loss; one schedule step.
        returns, old_values: (B, R)."""
        B = batch.size
        mini = self.trainer_cfg.mini_batch_size or B
        epochs = self.cfg.epochs or self.trainer_cfg.ppo_epochs
        gen = torch.Generator().manual_seed(self.trainer_cfg.seed + 7 + self.scheduler.last_epoch)
        sums: dict[str, float] = defaultdict(float)
        steps = 0
        for _ in range(epochs):
            order = torch.randperm(B, generator=gen) if mini < B else torch.arange(B)
            for start in range(0, B, mini):
                rows = order[start : start + mini]
                for k, v in self._step(batch.select(rows), returns[rows], old_values[rows]).items():
                    sums[k] += v
                steps += 1
        self.scheduler.step()
        metrics = {f"critic/{k}": v / max(steps, 1) for k, v in sums.items()}
        metrics["critic/lr"] = self.optimizer.param_groups[0]["lr"]
        return metrics

    def _step(self, mb_all: TokenBatch, returns: Tensor, old_values: Tensor) -> dict[str, float]:
        """One optimizer step on a mini-batch (this process's rows of it), the loss aggregated with the
        mini-batch's token count."""
        mine = self._rows(mb_all.size)
        share, returns, old_values = mb_all.select(mine), returns[mine], old_values[mine]
        total = float(self._sum(share.response_mask.sum().double().reshape(1)))
        agg = partial(self.aggregate, num_tokens=total)
        self.optimizer.zero_grad(set_to_none=True)
        summed: dict[str, float] = defaultdict(float)
        summed["value_loss"] = 0.0
        for sl in self._micro_slices(share.size):
            if sl is None:
                (self._values(self._filler(mb_all)).sum() * 0.0).backward()
                continue
            mb = share.select(sl).to(self.device)
            values = self._values(mb).float()
            loss, m = clipped_value_loss(
                values,
                old_values[sl].to(self.device),
                returns[sl].to(self.device),
                mb.response_mask,
                self.cfg.value_clip,
                agg,
            )
            loss.backward()
            weight = float(mb.response_mask.sum()) / max(total, 1.0)
            summed["value_loss"] += loss.item()
            for k, v in m.items():
                summed[k] += float(v) * weight
        summed = self._sum_metrics(dict(summed))
        grad_norm = self._clip_gradients()
        if torch.isfinite(grad_norm):
            self.optimizer.step()
        summed["grad_norm"] = float(grad_norm)
        return summed

    # ---- one process; a sharded critic (rlvr.distributed.sharded_critic) overrides these -----------
    def _rows(self, size: int) -> Tensor:
        """Rows (b,) of a batch of ``size`` that this process computes: all of them."""
        return torch.arange(size)

    def _micro_slices(self, size: int) -> list[slice | None]:
        """Micro-batches of ``size`` rows (None: a zero-weighted pass, only on a rank short of passes)."""
        micro = self.trainer_cfg.micro_batch_size
        return [slice(s, s + micro) for s in range(0, size, micro)]

    def _filler(self, batch: TokenBatch) -> TokenBatch:
        """One row of ``batch`` on the device: the input of a zero-weighted pass."""
        return batch.select(torch.arange(1)).to(self.device)

    def _sum(self, t: Tensor) -> Tensor:
        """``t`` summed over the processes that share the batch: one process, ``t``."""
        return t

    def _sum_metrics(self, values: dict[str, float]) -> dict[str, float]:
        return values

    def _clip_gradients(self) -> Tensor:
        """The gradient norm, after clipping to critic.max_grad_norm."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        return torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm or float("inf"))

    # ---- checkpoints ------------------------------------------------------------------------------
    def weights(self) -> dict[str, Tensor]:
        """A CPU copy of the value model's weights (later updates do not change it); with LoRA, of the
        trainable ones only (adapters and head: the frozen backbone is rebuilt from the policy)."""
        names = self._trainable_names()
        return {
            k: v.detach().to("cpu", copy=True)
            for k, v in self.model.state_dict().items()
            if names is None or k in names
        }

    def _trainable_names(self) -> set[str] | None:
        """State-dict names of the trainable parameters with LoRA; None (all weights) without."""
        if self.cfg.lora is None:
            return None
        return {k for k, p in self.model.named_parameters() if p.requires_grad}

    def training_state(self) -> dict[str, Any]:
        """Optimizer and schedule, for a checkpoint (torch-saved)."""
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load(self, weights: dict[str, Tensor], state: dict[str, Any]) -> None:
        names = self._trainable_names()
        if names is None:
            self.model.load_state_dict(weights)
        else:
            if set(weights) != names:
                missing, extra = sorted(names - set(weights)), sorted(set(weights) - names)
                raise ValueError(
                    f"the checkpoint's critic does not fit critic.lora: missing {missing[:5]}, "
                    f"unexpected {extra[:5]} (was it saved with another critic: section?)"
                )
            self.model.load_state_dict(weights, strict=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def value_metrics(values: Tensor, returns: Tensor, mask: Tensor) -> dict[str, float]:
    """Explained variance of the rollout's values and the mean return, over valid tokens. (B, T) x 3"""
    valid = mask > 0
    return {
        "critic/explained_variance": float(explained_variance(values, returns, mask)),
        "critic/return_mean": float(returns[valid].mean()) if valid.any() else 0.0,
        "critic/value_mean_rollout": float(values[valid].mean()) if valid.any() else 0.0,
    }
