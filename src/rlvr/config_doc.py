"""The config, documented from its own schema: field docstrings become comments and reference tables.

- :func:`annotated_yaml` is what ``rlvr config RECIPE.yaml [overrides]`` prints: the resolved config as
  YAML, each field preceded by its description and default. The output is itself a valid recipe.
- ``python -m rlvr.config_doc --schema`` prints the JSON schema of a recipe (for editors).
- :func:`reference_markdown` is ``docs/config_reference.md``, and :func:`refresh_blocks` the field
  tables inside ``docs/data_formats.md``; regenerate both with ``python -m rlvr.config_doc --write``
  (a test fails when a committed page is stale).

Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rlvr.config import RunConfig

REFERENCE_PATH = Path("docs/config_reference.md")
_WIDTH = 100


def _plain(value: Any) -> Any:
    """A default or value as YAML-able data (tuples as lists, models as dicts)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _flow(value: Any) -> str:
    """``value`` as one line of flow-style YAML."""
    data = _plain(value)
    text = yaml.safe_dump(data, default_flow_style=True, width=10**6, sort_keys=False).strip()
    text = text.removesuffix("\n...").strip()
    return json.dumps(data) if "\n" in text else text  # JSON (valid YAML) keeps escapes on one line


def default_text(field: FieldInfo) -> str:
    """The field's default as YAML, ``required`` when it has none."""
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        return "(section defaults)"
    return _flow(default)


def _description(field: FieldInfo) -> str:
    return " ".join((field.description or "").split())


# --------------------------------------------------------------------------------------------------
# rlvr config: the resolved config with its documentation


def _comment(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text, _WIDTH - len(indent), initial_indent=f"{indent}# ", subsequent_indent=f"{indent}# "
    )


def _model_lines(model: BaseModel, indent: str) -> list[str]:
    lines: list[str] = []
    dumped = model.model_dump(mode="json")
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        default = default_text(field)
        doc = _description(field)
        if isinstance(value, BaseModel):
            lines += _comment(doc, indent)
            lines += [f"{indent}{name}:", *_model_lines(value, indent + "  ")]
            continue
        lines += _comment(f"{doc} [default: {default}]" if doc else f"[default: {default}]", indent)
        if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            lines.append(f"{indent}{name}:")
            for item in value:
                lines += [f"{indent}  -", *_model_lines(item, indent + "    ")]
        else:
            lines.append(f"{indent}{name}: {_flow(dumped[name])}")
    return lines


def annotated_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML, every field preceded by a ``#`` comment with its description and
    default; loading the text back gives the same config."""
    return "\n".join(_model_lines(cfg, "")) + "\n"


# --------------------------------------------------------------------------------------------------
# docs/config_reference.md


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Config classes inside a field's type (through unions, lists, Annotated...), in order."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _type_text(annotation: Any) -> str:
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_text(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_text(a) for a in args)}]"
    return str(annotation).replace("typing.", "")


def _sections() -> list[tuple[str, type[BaseModel]]]:
    """(path, class) of every config class reachable from RunConfig, depth first, each once."""
    out: list[tuple[str, type[BaseModel]]] = []
    seen: set[type[BaseModel]] = set()

    def visit(path: str, cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        out.append((path, cls))
        for name, field in cls.model_fields.items():
            inner = list(_models_in(field.annotation))
            for sub in inner:
                label = f"{path}.{name}" if path else name
                if len(inner) > 1 and "type" in sub.model_fields:
                    label += f" (type: {sub.model_fields['type'].default})"
                visit(label, sub)

    visit("", RunConfig)
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def field_table(cls: type[BaseModel]) -> list[str]:
    """A markdown table of a config class's fields: type, default and description."""
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, field in cls.model_fields.items():
        default = _cell(default_text(field))
        row = [f"`{name}`", _type_text(field.annotation), f"`{default}`", _cell(_description(field))]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def reference_markdown() -> str:
    """Every config section as a table of its fields: type, default and description."""
    lines = [
        "# Config reference",
        "",
        "Every field of a recipe, generated from the config classes' docstrings by",
        "`python -m rlvr.config_doc --write` (a test fails when this page is stale). `rlvr config RECIPE.yaml",
        "[overrides]` prints a recipe's resolved values with the same descriptions. Any field can be",
        "overridden on the command line with its dotted path (`trainer.steps=50`, `data.train.0.size=500`).",
        "",
    ]
    for path, cls in _sections():
        title = f"`{path}`" if path else "Top level"
        doc = " ".join((cls.__doc__ or "").split())
        lines += [f"## {title}", "", f"{doc} (`{cls.__name__}`)", "", *field_table(cls), ""]
    return "\n".join(lines)


_BLOCK = re.compile(r"(<!-- fields: (\w+) -->\n)(.*?)(<!-- end fields -->)", re.S)


def refresh_blocks(text: str) -> str:
    """``text`` with each ``<!-- fields: ClassName -->`` ... ``<!-- end fields -->`` block regenerated
    as that config class's field table (class names are looked up among the config's sections)."""
    classes = {cls.__name__: cls for _, cls in _sections()}
    return _BLOCK.sub(lambda m: m[1] + "\n".join(field_table(classes[m[2]])) + "\n" + m[4], text)


GENERATED_BLOCK_PAGES = (Path("docs/data_formats.md"),)
"""Hand-written pages whose field tables are generated (``<!-- fields: ... -->`` blocks)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlvr.config_doc", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help=f"write {REFERENCE_PATH} (run from the repo root)"
    )
    parser.add_argument(
        "--schema", action="store_true", help="print the JSON schema of a recipe (for editors' YAML checking)"
    )
    args = parser.parse_args(argv)
    if args.schema:
        print(json.dumps(RunConfig.model_json_schema(), indent=1))
        return 0
    text = reference_markdown()
    if args.write:
        REFERENCE_PATH.write_text(text)
        print(f"wrote {REFERENCE_PATH}")
        for page in GENERATED_BLOCK_PAGES:
            page.write_text(refresh_blocks(page.read_text()))
            print(f"refreshed the field tables of {page}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
