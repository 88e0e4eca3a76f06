"""Recipe files: YAML with duplicate keys refused, ``include:`` merging and dotted overrides.

Imports none of rlvr's layers, so any of them (the embodied trainer's own config, for one) can read a
recipe; :mod:`rlvr.config` builds the LLM trainer's :class:`RunConfig` on top of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "apply_override", "deep_merge", "parse_yaml", "read_recipe"]


class ConfigError(ValueError):
    """A recipe or override that does not validate; the message names the field and what was expected."""


def apply_override(tree: dict[str, Any], dotted: str) -> None:
    """Apply ``a.b.c=value`` to a nested dict (value parsed as YAML: numbers, bools, lists...).

    A numeric part indexes a list: ``data.train.0.size=100``.
    """
    key, sep, raw = dotted.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {dotted!r} must look like 'section.field=value'")
    parts = key.strip().split(".")
    node: Any = tree
    for depth, name in enumerate(parts):
        last = depth == len(parts) - 1
        part: str | int = name
        if isinstance(node, list):
            if not name.isdigit() or int(name) >= len(node):
                raise ConfigError(f"override {dotted!r}: {name!r} is not an index of a list of {len(node)}")
            part = int(name)
        elif not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {'.'.join(parts[:depth])!r} is not a section")
        if last:
            node[part] = parse_yaml(raw, f"override {dotted!r}") if raw.strip() else ""
        else:
            if isinstance(node, dict):
                node.setdefault(part, {})
            node = node[part]


def changed_fields(old: dict[str, Any], new: dict[str, Any], safe_fields: tuple[str, ...] = ()) -> list[str]:
    """``field: old -> new`` (dotted names, as overrides spell them) for every field of two config trees
    that differs, except those in ``safe_fields`` (a field, or a section and all below it)."""
    a, b = _dotted(old), _dotted(new)
    lines = []
    for key in sorted(set(a) | set(b)):
        safe = any(key == p or key.startswith(p + ".") for p in safe_fields)
        if not safe and a.get(key, "<absent>") != b.get(key, "<absent>"):
            lines.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return lines


def _dotted(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_dotted(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: mappings merge key by key, anything else (lists included) is replaced."""
    out = dict(base)
    for key, value in top.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader for which a key repeated in one mapping is an error (PyYAML keeps the last one)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name} line {line}: duplicate key {key!r} (first on line {seen[key]}); "
                "keep one"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_yaml(text: str, name: str) -> Any:
    """YAML text as Python objects; a duplicate key is a :class:`ConfigError` naming ``name``, the line
    and the key."""
    loader = _UniqueKeyLoader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_recipe(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe file as a dict. ``include: other.yaml`` (relative to the file; a list for several) is read
    first and this file's keys are merged over it, so a tiny-model variant only states what differs."""
    path = Path(path)
    if path.resolve() in _seen:
        raise ConfigError(f"recipe {path} includes itself (through {' -> '.join(map(str, _seen))})")
    try:
        tree = parse_yaml(path.read_text(), str(path)) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"recipe {path} not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"recipe {path} is a directory; expected a YAML file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(tree, dict):
        raise ConfigError(f"recipe {path} must be a mapping of sections, got {type(tree).__name__}")
    includes = tree.pop("include", [])
    merged: dict[str, Any] = {}
    for inc in [includes] if isinstance(includes, str) else includes:
        merged = deep_merge(merged, read_recipe(path.parent / inc, (*_seen, path.resolve())))
    return deep_merge(merged, tree)
