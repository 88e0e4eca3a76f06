"""Images of a sample: lightweight references, checked when data loads, decoded only when used.

A row's ``images`` is a list (or one item) of: a file path (absolute, or relative to the data file's
folder, then to the working directory), raw bytes, a ``PIL.Image``, or the dict an Arrow image column
holds (``{"bytes": ..., "path": ...}``: Parquet and Hugging Face ``datasets.Image``). Each becomes an
``ImageRef``; a path that does not exist or bytes that are empty fail the row, naming it.

Prompts mark where images go with ``<image>`` (verl / V-Triune rows). ``split_image_placeholders``
turns such a text into chat content parts ``[{"type": "image"}, {"type": "text", "text": ...}]`` for a
vision-language processor; the sample's own text keeps the placeholders (text models see them as text).
PIL is imported only when an image is decoded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr.data.errors import row_error

IMAGE_PLACEHOLDER = "<image>"


@dataclass(frozen=True)
class ImageRef:
    """One image: exactly one of a file ``path``, encoded ``data`` bytes or a decoded ``pil`` image."""

    path: str | None = None
    data: bytes | None = None
    pil: Any = None

    def load(self) -> Any:
        """The image as an RGB ``PIL.Image`` (decoded now; nothing is cached)."""
        from PIL import Image

        if self.pil is not None:
            return self.pil.convert("RGB")
        if self.data is not None:
            return Image.open(io.BytesIO(self.data)).convert("RGB")
        with Image.open(str(self.path)) as im:
            return im.convert("RGB")


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "convert")


def _resolve(path: str, base_dir: Path | None) -> Path | None:
    p = Path(path).expanduser()
    if p.is_absolute():
        return p if p.is_file() else None
    for root in ([base_dir] if base_dir else []) + [Path.cwd()]:
        if (root / p).is_file():
            return (root / p).resolve()
    return None


def to_image_ref(value: Any, base_dir: Path | None = None) -> ImageRef:
    """One row value as an ``ImageRef``; ``ValueError`` saying what is wrong (see the module doc)."""
    if isinstance(value, ImageRef):
        return value
    if _is_pil(value):
        return ImageRef(pil=value)
    if isinstance(value, bytes | bytearray):
        if not value:
            raise ValueError("empty image bytes")
        return ImageRef(data=bytes(value))
    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        if value.get("bytes"):
            return ImageRef(data=bytes(value["bytes"]))
        value = value.get("path")
    if isinstance(value, str) and value.strip():
        found = _resolve(value, base_dir)
        if found is None:
            where = f" (nor under {base_dir})" if base_dir else ""
            raise ValueError(f"image file {value!r} does not exist{where}")
        return ImageRef(path=str(found))
    raise ValueError(
        f"an image must be a path, bytes, a PIL image or {{'bytes': ..., 'path': ...}}, got {type(value).__name__}"
    )


def image_to_row(ref: ImageRef) -> dict[str, Any]:
    """An ``ImageRef`` as the ``{"bytes": ..., "path": ...}`` dict Arrow image columns use (a PIL image is
    encoded as PNG); ``to_image_ref`` reads it back."""
    if ref.pil is not None:
        buf = io.BytesIO()
        ref.pil.save(buf, format="PNG")
        return {"bytes": buf.getvalue(), "path": None}
    return {"bytes": ref.data, "path": ref.path}


def images_from_row(value: Any, source: str, row_num: int, field: str = "images") -> list[ImageRef]:
    """A row's images (None -> none), each checked; a bad one raises naming ``source``, row and index."""
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple) else [value]
    src = Path(source)
    base_dir = src.parent if src.suffix and src.parent.is_dir() else None
    refs = []
    for i, item in enumerate(items):
        try:
            refs.append(to_image_ref(item, base_dir))
        except ValueError as exc:
            raise row_error(source, row_num, f"field '{field}[{i}]': {exc}") from None
    return refs


def count_placeholders(messages: list[dict[str, Any]] | None, prompt: str | None) -> int:
    """How many ``<image>`` placeholders the prompt text holds."""
    if prompt is not None:
        return prompt.count(IMAGE_PLACEHOLDER)
    return sum(
        str(m["content"]).count(IMAGE_PLACEHOLDER) for m in messages or [] if isinstance(m["content"], str)
    )


def split_image_placeholders(text: str) -> list[dict[str, str]]:
    """``"<image>What is it?"`` -> ``[{"type": "image"}, {"type": "text", "text": "What is it?"}]``
    (empty text parts dropped; placeholders kept in order)."""
    parts: list[dict[str, str]] = []
    for k, chunk in enumerate(text.split(IMAGE_PLACEHOLDER)):
        if k:
            parts.append({"type": "image"})
        if chunk:
            parts.append({"type": "text", "text": chunk})
    return parts


def vision_messages(messages: list[dict[str, Any]], n_images: int) -> list[dict[str, Any]]:
    """Chat messages with ``<image>`` placeholders split into content parts. A prompt without
    placeholders but with images gets them at the start of its first user message (the usual place)."""
    out = [dict(m) for m in messages]
    if n_images and count_placeholders(out, None) == 0:
        first = next((m for m in out if m["role"] == "user"), None)
        if first is None:
            raise ValueError("images given but no user message to put them in")
        first["content"] = IMAGE_PLACEHOLDER * n_images + str(first["content"])
    for m in out:
        if isinstance(m["content"], str) and IMAGE_PLACEHOLDER in m["content"]:
            m["content"] = split_image_placeholders(m["content"])
    return out


def check_placeholders(n_placeholders: int, n_images: int, source: str, row_num: int) -> None:
    """Placeholders, when present, must number the images."""
    if n_placeholders and n_placeholders != n_images:
        raise row_error(
            source,
            row_num,
            f"the prompt has {n_placeholders} '{IMAGE_PLACEHOLDER}' placeholders but the row has {n_images} images",
        )
