"""Name -> object registries, the extension points of rlvr.

Every pluggable piece (advantage estimators, policy losses, KL estimators, loss aggregations, verifiers)
lives in a :class:`Registry`. A trainer never branches on a name; it looks the name up. User code plugs in
either by decorating a function with ``@REGISTRY.register("name")`` or by naming it as ``module:attr``
in a recipe.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is neither registered nor a ``module:attr`` import path."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0])


def import_path(path: str) -> object:
    """Resolve ``"package.module:attr"`` to the object it names."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"import path {path!r} must look like 'package.module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import module {module_name!r} named by {path!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ImportError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})") from exc


class Registry(Generic[T]):
    """A named table of functions or classes of one kind (``kind`` appears in error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        if ":" in name:
            return import_path(name)  # type: ignore[return-value]
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))} "
            f"(or a 'module:attr' import path)"
        )

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
