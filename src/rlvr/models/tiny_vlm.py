"""Tiny vision-language models built locally, for tests and CPU recipes (the VLM twin of ``tiny.py``).

``build_tiny_vlm(family)`` returns ``(model, processor)`` for ``"qwen2_vl"``, ``"qwen2_5_vl"``,
``"llava"`` or ``"idefics3"``: a randomly initialised model from a small config, the character-level
tokenizer of ``tiny.py`` (built here, no download) with the family's image tokens added, and the
family's ``*ImageProcessorPil`` (PIL only: no torchvision). ``save_tiny_vlm`` writes both to a folder
and ``load_tiny_vlm`` reads them back.

Two traps handled:

- The Qwen2-VL processors take a video processor whose base class needs torchvision; here they are
  built image-only (``_ImageOnly`` subclasses whose ``__init__`` names no video processor).
- ``AutoProcessor.from_pretrained`` on a saved tiny Qwen2-VL returns the bare tokenizer (reported with
  earlier transformers) or, with transformers 5.24, raises ImportError for the torchvision video
  processor; ``load_tiny_vlm`` never asks it: it builds the image-only processor from the saved image
  processor and tokenizer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlvr.models.tiny import build_tokenizer

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "llava", "idefics3")
_QWEN_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
_MARKER = "rlvr_tiny_vlm.json"  # which family a saved folder holds


def _image_only(base: type) -> type:
    """``base`` (a Qwen2-VL-style processor) without its video processor."""
    from transformers.processing_utils import ProcessorMixin

    class _ImageOnly(base):
        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kw: Any
        ):
            self.image_token = "<|image_pad|>"
            self.video_token = "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    _ImageOnly.__name__ = f"ImageOnly{base.__name__}"
    return _ImageOnly


def _sizes(text: dict[str, int] | None) -> dict[str, int]:
    """The text model's sizes: hidden 32, MLP 64, 1 layer, 2 heads unless ``text`` says otherwise
    (keys ``hidden_size``, ``intermediate_size``, ``num_hidden_layers``, ``num_attention_heads``)."""
    sizes = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    return sizes | (text or {})


def _qwen(family: str, seed: int, text_sizes: dict[str, int] | None = None) -> tuple[Any, Any]:
    import torch
    import transformers as tf

    tok = build_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": _QWEN_TOKENS})
    ids = {t: tok.convert_tokens_to_ids(t) for t in _QWEN_TOKENS}
    image_proc = tf.Qwen2VLImageProcessorPil(
        min_pixels=28 * 28, max_pixels=28 * 28 * 16, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    sizes = _sizes(text_sizes)
    half = sizes["hidden_size"] // sizes["num_attention_heads"] // 2  # rotary frequencies a head
    section = [half // 4, half // 4, half - 2 * (half // 4)]  # (temporal, height, width): [2, 2, 4] at 8
    text = {
        "vocab_size": len(tok),
        **sizes,
        "num_key_value_heads": 1,
        "max_position_embeddings": 1024,
        "rope_scaling": {"type": "mrope", "mrope_section": section},
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }
    vision: dict[str, Any] = {
        "depth": 1,
        "num_heads": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    config_cls: Any
    model_cls: Any
    proc_cls: Any
    if family == "qwen2_vl":
        vision |= {"embed_dim": 32, "hidden_size": sizes["hidden_size"], "mlp_ratio": 2}
        config_cls, model_cls, proc_cls = (
            tf.Qwen2VLConfig,
            tf.Qwen2VLForConditionalGeneration,
            tf.Qwen2VLProcessor,
        )
    else:
        vision |= {"hidden_size": 32, "intermediate_size": 64, "window_size": 56}
        vision |= {"out_hidden_size": sizes["hidden_size"]}
        vision |= {"fullatt_block_indexes": [0]}
        config_cls, model_cls = tf.Qwen2_5_VLConfig, tf.Qwen2_5_VLForConditionalGeneration
        proc_cls = tf.Qwen2_5_VLProcessor
    config = config_cls(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    return model_cls(config), _image_only(proc_cls)(image_processor=image_proc, tokenizer=tok)


def _text_config(tok: Any, text_sizes: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "model_type": "llama",
        "vocab_size": len(tok),
        **_sizes(text_sizes),
        "num_key_value_heads": 1,
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }


def _llava(seed: int, text_sizes: dict[str, int] | None = None) -> tuple[Any, Any]:
    """CLIP vision tower on 28x28 images (2x2 patches of 14: 4 image tokens, CLS dropped) + Llama."""
    import torch
    import transformers as tf

    tok = build_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_proc = tf.CLIPImageProcessorPil(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = tf.LlavaProcessor(
        image_processor=image_proc,
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    vision = {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64}
    vision |= {"num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14}
    config = tf.LlavaConfig(
        vision_config=vision,
        text_config=_text_config(tok, text_sizes),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    return tf.LlavaForConditionalGeneration(config), processor


def _idefics3(seed: int, text_sizes: dict[str, int] | None = None) -> tuple[Any, Any]:
    """SigLIP-style tower on 28x28 images (4 patches, pixel-shuffled by 2: 1 image token) + Llama."""
    import torch
    import transformers as tf

    tok = build_tokenizer()
    specials = ["<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>"]
    tok.add_special_tokens({"additional_special_tokens": specials})
    image_proc = tf.Idefics3ImageProcessorPil(
        size={"longest_edge": 56}, max_image_size={"longest_edge": 28}, do_image_splitting=False
    )
    processor = tf.Idefics3Processor(image_processor=image_proc, tokenizer=tok, image_seq_len=1)
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    vision |= {"image_size": 28, "patch_size": 14}
    config = tf.Idefics3Config(
        vision_config=vision,
        text_config=_text_config(tok, text_sizes),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    torch.manual_seed(seed)
    return tf.Idefics3ForConditionalGeneration(config), processor


def build_tiny_vlm(family: str, seed: int = 0, text_sizes: dict[str, int] | None = None) -> tuple[Any, Any]:
    """A randomly initialised tiny ``family`` model and its processor (see the module doc). The processor
    remembers its family (``save_processor`` writes it for ``load_tiny_vlm``). ``text_sizes`` overrides
    the language model's sizes (see ``_sizes``)."""
    if family in ("qwen2_vl", "qwen2_5_vl"):
        model, processor = _qwen(family, seed, text_sizes)
    elif family == "llava":
        model, processor = _llava(seed, text_sizes)
    elif family == "idefics3":
        model, processor = _idefics3(seed, text_sizes)
    else:
        raise ValueError(f"unknown VLM family {family!r}; known: {list(FAMILIES)}")
    processor.rlvr_family = family
    return model, processor


def save_processor(processor: Any, path: str | Path) -> None:
    """Write ``processor`` to ``path`` so that ``load_vlm_processor`` reads it back: a tiny one as its
    image processor, tokenizer and family marker (image-only Qwen processors have no class to save),
    any other through its own ``save_pretrained``."""
    path = Path(path)
    family = getattr(processor, "rlvr_family", None)
    if family is None:
        processor.save_pretrained(path)
        return
    if family in ("qwen2_vl", "qwen2_5_vl"):
        processor.image_processor.save_pretrained(path)
        processor.tokenizer.save_pretrained(path)
    else:
        processor.save_pretrained(path)
    (path / _MARKER).write_text(json.dumps({"family": family}))


def is_tiny_vlm(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``save_tiny_vlm`` / ``save_processor`` of a tiny VLM."""
    return (Path(path) / _MARKER).is_file()


def image_prompt(family: str, n_images: int = 1) -> str:
    """The text that stands for ``n_images`` images in a prompt of ``family`` (the processor expands it)."""
    if family in ("qwen2_vl", "qwen2_5_vl"):
        return "<|vision_start|><|image_pad|><|vision_end|>" * n_images
    return "<image>" * n_images


def save_tiny_vlm(family: str, path: str | Path, seed: int = 0) -> Path:
    """Build a tiny ``family`` model and save it, its image processor and tokenizer to ``path``."""
    path = Path(path)
    model, processor = build_tiny_vlm(family, seed)
    model.save_pretrained(path)
    save_processor(processor, path)
    return path


def _family(path: Path) -> str:
    family = json.loads((path / _MARKER).read_text())["family"]
    if family not in FAMILIES:
        raise ValueError(f"{path}: unknown VLM family {family!r}; known: {list(FAMILIES)}")
    return str(family)


def load_tiny_model(path: str | Path) -> Any:
    """The model of a saved tiny VLM folder."""
    import transformers as tf

    classes: dict[str, Any] = {
        "qwen2_vl": tf.Qwen2VLForConditionalGeneration,
        "qwen2_5_vl": tf.Qwen2_5_VLForConditionalGeneration,
        "llava": tf.LlavaForConditionalGeneration,
        "idefics3": tf.Idefics3ForConditionalGeneration,
    }
    return classes[_family(Path(path))].from_pretrained(path)


def load_tiny_processor(path: str | Path) -> Any:
    """The processor of a saved tiny VLM folder, rebuilt image-only (not through ``AutoProcessor``)."""
    import transformers as tf

    path = Path(path)
    family = _family(path)
    processor: Any
    if family in ("qwen2_vl", "qwen2_5_vl"):
        tok = tf.AutoTokenizer.from_pretrained(path)
        image_proc = tf.Qwen2VLImageProcessorPil.from_pretrained(path)
        proc_cls = tf.Qwen2VLProcessor if family == "qwen2_vl" else tf.Qwen2_5_VLProcessor
        processor = _image_only(proc_cls)(image_processor=image_proc, tokenizer=tok)
    elif family == "llava":
        processor = tf.LlavaProcessor.from_pretrained(path)
    else:
        processor = tf.Idefics3Processor.from_pretrained(path)
    processor.rlvr_family = family
    return processor


def load_tiny_vlm(path: str | Path) -> tuple[Any, Any]:
    """A saved tiny VLM and its processor."""
    return load_tiny_model(path), load_tiny_processor(path)
