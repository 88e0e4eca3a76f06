"""Tiny Llama-style models and character-level tokenizers, built locally with no downloads.

Tests and the quickstart use these: they save with ``save_pretrained`` and load back through the same
``AutoModelForCausalLM`` / ``AutoTokenizer`` path that a hub id takes, so nothing downstream knows they
are tiny.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

# One character a token: digits, letters, punctuation (backticks for code fences), and the tags verifiers read.
DEFAULT_ALPHABET = (
    "0123456789+-*/=()<>[]{}.,:;?!#'\" _\nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\\^|&%$@~`"
)
SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

# A minimal chat template: one turn a line, the assistant turn opened by the generation prompt.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'][0] | upper }}:{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}A:{% endif %}"
)


class TinyModelConfig(BaseModel):
    """Shape of a tiny Llama-style model built from scratch."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    hidden_size: int = Field(128, gt=0)
    """Width of the residual stream."""
    intermediate_size: int = Field(384, gt=0)
    """Width of the MLP."""
    num_layers: int = Field(3, gt=0)
    """Number of decoder layers."""
    num_heads: int = Field(4, gt=0)
    """Attention heads (must divide hidden_size)."""
    max_positions: int = Field(256, gt=0)
    """Longest sequence (prompt + completion) the model handles."""
    alphabet: str = DEFAULT_ALPHABET
    """Characters of the vocabulary, one token each, after the special tokens."""
    tokenizer: str | None = None
    """Another tokenizer for the tiny model: a saved tokenizer directory or a `module:attr` factory called
    with no arguments (e.g. `rlvr.envs.s3.tokenizer:world_tokenizer`, one token per word of the s3 world);
    null: one token per character of `alphabet`."""
    seed: int = 0
    """Seed of the weight initialisation."""


def build_tokenizer(alphabet: str = DEFAULT_ALPHABET):
    """A character-level ``PreTrainedTokenizerFast`` with pad/bos/eos/unk and a chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = list(SPECIAL_TOKENS.values())
    chars = [c for c in dict.fromkeys(alphabet) if c not in specials]
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, **SPECIAL_TOKENS)
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def tiny_tokenizer(cfg: TinyModelConfig):
    """The tokenizer ``cfg`` names (``cfg.tokenizer``), else the character-level one; left padding."""
    if cfg.tokenizer is None:
        return build_tokenizer(cfg.alphabet)
    from rlvr.registry import import_path, is_import_path

    if is_import_path(cfg.tokenizer) and not Path(cfg.tokenizer).exists():
        factory = import_path(cfg.tokenizer)
        if not callable(factory):
            raise TypeError(f"model.tiny.tokenizer {cfg.tokenizer!r} is not callable")
        tok = factory()
    else:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(cfg.tokenizer)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def build_tiny_model(cfg: TinyModelConfig, tokenizer):
    """A randomly initialised ``LlamaForCausalLM`` sized by ``cfg`` for ``tokenizer``'s vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config)


def save_tiny(cfg: TinyModelConfig, path: str | Path) -> Path:
    """Build a tiny model and tokenizer and save both to ``path`` (a model directory)."""
    path = Path(path)
    tok = build_tokenizer(cfg.alphabet)
    model = build_tiny_model(cfg, tok)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
