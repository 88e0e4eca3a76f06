"""Loading the policy and its tokenizer: a hub id or local directory, or a tiny model built locally."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch

from rlvr.models.attention import set_cudnn_attention
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, tiny_tokenizer

if TYPE_CHECKING:  # the config names models' types (TinyModelConfig); models read it, never import it
    from rlvr.config import ModelConfig

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelLoadError(OSError):
    """model.path names neither a model directory nor a hub id this machine can load; says what to do."""


def _load_error(path: str, what: str, exc: Exception) -> ModelLoadError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if Path(path).expanduser().exists():
        return ModelLoadError(f"model.path {path}: cannot load the {what} from this directory: {first}")
    return ModelLoadError(
        f"model.path {path!r}: not a local directory, and loading it as a hub id failed ({first}); give a "
        "model directory, or a hub id on a machine that reaches huggingface.co or has it cached"
    )


def quiet_transformers() -> None:
    """No per-file progress bars from transformers (loading and saving shards) on the console."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_tokenizer(cfg: ModelConfig):
    from rlvr.models.vlm_load import is_vlm_config, load_vlm_tokenizer

    if is_vlm_config(cfg):  # the processor's tokenizer, the processor attached
        return load_vlm_tokenizer(cfg)
    if cfg.path is None:
        return tiny_tokenizer(cfg.tiny or TinyModelConfig())
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(cfg.path, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise _load_error(cfg.path, "tokenizer", exc) from exc
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_model(cfg: ModelConfig, tokenizer):
    """The policy model on its device, in train mode, LoRA-wrapped when configured."""
    quiet_transformers()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    from rlvr.models.vlm_load import is_vlm_config, load_vlm

    if is_vlm_config(cfg):
        model = load_vlm(cfg, DTYPES[cfg.dtype])
    elif cfg.path is None:
        model = build_tiny_model(cfg.tiny or TinyModelConfig(), tokenizer).to(DTYPES[cfg.dtype])
    else:
        from transformers import AutoModelForCausalLM

        if not Path(cfg.path).exists():
            log.info("model %s is not a local directory; loading it as a hub id", cfg.path)
        try:
            model = AutoModelForCausalLM.from_pretrained(
                cfg.path, dtype=DTYPES[cfg.dtype], trust_remote_code=cfg.trust_remote_code
            )
        except (OSError, ValueError) as exc:
            raise _load_error(cfg.path, "model", exc) from exc
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if cfg.lora is not None:
        model = add_lora(model, cfg.lora, "CAUSAL_LM")
    device = resolve_device(cfg.device)
    set_cudnn_attention(cfg.cudnn_attention, device)
    model.to(device)
    model.train()
    return model


class LoraSettings(Protocol):
    """What :func:`add_lora` reads (``rlvr.config_lora.LoraConfig``, or any object with these fields)."""

    r: int
    alpha: int
    dropout: float
    target_modules: list[str] | str


def add_lora(model, lora: LoraSettings, task_type: str):
    """``model`` wrapped by peft with LoRA adapters (only they are trainable). ``task_type``: peft's
    ("CAUSAL_LM" for a policy, "FEATURE_EXTRACTION" for a backbone without an LM head)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type=task_type,
    )
    return get_peft_model(model, config)


def frozen_copy(model):
    """A frozen deep copy (the reference policy). For a LoRA model prefer disabling the adapter instead."""
    ref = copy.deepcopy(model)
    ref.eval()
    ref.requires_grad_(False)
    return ref
