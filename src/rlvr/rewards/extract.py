"""Answer extraction shared by the verifiers: ``\\boxed{...}``, ``<tag>...</tag>``, ``#### x``, code fences.

Every helper returns ``None`` when there is nothing to extract; an empty string means the model wrote an
empty answer (``\\boxed{}``), which verifiers score as wrong rather than as missing.
"""

from __future__ import annotations

import re

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_GSM8K_RE = re.compile(r"####\s*([^\n]*)")
_FENCE_RE = re.compile(r"```[ \t]*(python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def _braced(text: str, open_idx: int) -> str | None:
    """The text between ``text[open_idx] == "{"`` and its matching ``}`` (None if never closed)."""
    depth, i = 0, open_idx
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] in ("{", "}"):
            i += 2  # an escaped brace \{ or \} does not nest
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[open_idx + 1 : i]
        i += 1
    return None


def all_boxed(text: str) -> list[str]:
    """The contents of every complete ``\\boxed{...}`` (or ``\\fbox{...}``) in order, nested braces kept."""
    out = []
    for m in _BOXED_RE.finditer(text):
        inner = _braced(text, m.end() - 1)
        if inner is not None:
            out.append(inner)
    return out


def last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}``, stripped; None if there is none."""
    boxes = all_boxed(text)
    return boxes[-1].strip() if boxes else None


def tagged(text: str, tag: str) -> str | None:
    """The content of the last ``<tag>...</tag>``, stripped; None if no closed pair exists."""
    matches = re.findall(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", text, re.DOTALL)
    return matches[-1].strip() if matches else None


def gsm8k_answer(text: str) -> str | None:
    """The rest of the line after the last ``####`` (GSM8K style), without a trailing period."""
    matches = _GSM8K_RE.findall(text)
    if not matches:
        return None
    answer = matches[-1].strip().rstrip(".").strip()
    return answer or None


def extract_answer(
    text: str, answer_tag: str | None = None, boxed: bool = True, gsm8k: bool = True
) -> tuple[str | None, str | None]:
    """The final answer and how it was found: ``(answer, method)``, ``method`` in tag | boxed | gsm8k.

    Priority: the configured ``<answer_tag>`` (its content; a ``\\boxed{}`` inside it is unwrapped), then
    the last ``\\boxed{}``, then ``#### x``. Returns ``(None, None)`` when nothing matches.
    """
    if answer_tag:
        inner = tagged(text, answer_tag)
        if inner is not None:
            boxed_inner = last_boxed(inner) if boxed else None
            return (boxed_inner if boxed_inner is not None else inner), "tag"
    if boxed:
        answer = last_boxed(text)
        if answer is not None:
            return answer, "boxed"
    if gsm8k:
        answer = gsm8k_answer(text)
        if answer is not None:
            return answer, "gsm8k"
    return None, None


def strip_math_delimiters(answer: str) -> str:
    """Remove one layer of ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]`` around an answer."""
    s = answer.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            return s[len(left) : len(s) - len(right)].strip()
    return s


def code_block(text: str) -> str:
    """The last fenced ``python`` (or ``py``) block; else the last plain ``` block; else the whole text."""
    blocks = _FENCE_RE.findall(text)
    python_blocks = [body for lang, body in blocks if lang]
    if python_blocks:
        return python_blocks[-1]
    if blocks:
        return blocks[-1][1]
    return text
