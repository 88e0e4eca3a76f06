"""Loading a vision-language policy: a tiny one built here, a saved tiny one, or a hub / local VLM.

``model.tiny_vlm`` names a family of ``rlvr.models.tiny_vlm``; a ``model.path`` is a VLM when its folder
holds a tiny-VLM marker or its config has a ``vision_config``. The tokenizer a VLM run gets is its
processor's, with the processor attached (``rlvr.models.vlm.attach_processor``), so prompt encoding
sends images through it. The vision tower and connector are frozen unless ``model.freeze_vision`` is
off. With ``model.path`` a hub id the config is read from the hub.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from rlvr.models.tiny_vlm import (
    build_tiny_vlm,
    is_tiny_vlm,
    load_tiny_model,
    load_tiny_processor,
    save_processor,
)
from rlvr.models.vlm import attach_processor, freeze_vision, processor_of

if TYPE_CHECKING:
    from rlvr.config import ModelConfig

log = logging.getLogger(__name__)


def is_vlm_config(cfg: ModelConfig) -> bool:
    """Whether the model of ``cfg`` is a vision-language model (see the module doc). A ``model.path`` wins
    over ``model.tiny_vlm`` (``rlvr eval --model DIR`` replaces the path of a tiny recipe)."""
    if cfg.path is None:
        return cfg.tiny_vlm is not None
    path = Path(cfg.path).expanduser()
    if path.is_dir():
        config = path / "config.json"
        return is_tiny_vlm(path) or (config.is_file() and "vision_config" in json.loads(config.read_text()))
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(cfg.path, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError):
        return False
    return getattr(config, "vision_config", None) is not None


def _text_sizes(cfg: ModelConfig) -> dict[str, int] | None:
    """A tiny VLM's language-model sizes from ``model.tiny`` (None: the tiny defaults)."""
    t = cfg.tiny
    if t is None:
        return None
    return {
        "hidden_size": t.hidden_size,
        "intermediate_size": t.intermediate_size,
        "num_hidden_layers": t.num_layers,
        "num_attention_heads": t.num_heads,
    }


def _tiny(cfg: ModelConfig) -> tuple[Any, Any]:
    assert cfg.tiny_vlm is not None
    seed = cfg.tiny.seed if cfg.tiny is not None else 0
    return build_tiny_vlm(cfg.tiny_vlm, seed, _text_sizes(cfg))


def load_vlm_tokenizer(cfg: ModelConfig) -> Any:
    """The processor's tokenizer (pad token set, left padding) with the processor attached."""
    if cfg.path is None:
        with torch.random.fork_rng():  # building the processor builds a model: leave the RNG alone
            processor = _tiny(cfg)[1]
    elif is_tiny_vlm(str(cfg.path)):
        processor = load_tiny_processor(str(cfg.path))
    else:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(cfg.path, trust_remote_code=cfg.trust_remote_code)
    tok = processor.tokenizer
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return attach_processor(tok, processor)


def load_vlm(cfg: ModelConfig, dtype: torch.dtype) -> Any:
    """The VLM of ``cfg`` in ``dtype``, its vision tower and connector frozen unless
    ``model.freeze_vision`` is off (LoRA and the device are the caller's)."""
    model: Any
    if cfg.path is None:
        model = _tiny(cfg)[0]
    elif is_tiny_vlm(str(cfg.path)):
        model = load_tiny_model(str(cfg.path))
    else:
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(
            cfg.path, dtype=dtype, trust_remote_code=cfg.trust_remote_code
        )
    model = model.to(dtype)
    if cfg.freeze_vision:
        log.info("frozen vision modules: %s", ", ".join(freeze_vision(model)))
    return model


def save_vlm_processor(tokenizer: Any, path: str | Path) -> None:
    """Save the processor attached to ``tokenizer`` (if any) next to a saved model."""
    processor = processor_of(tokenizer)
    if processor is not None:
        save_processor(processor, path)
