"""Name -> object registries, the extension points of rlvr.

Every pluggable piece (advantage estimators, policy losses, KL estimators, loss aggregations, verifiers)
lives in a :class:`Registry`. A trainer never branches on a name; it looks the name up. User code plugs in
either by decorating a function with ``@REGISTRY.register("name")`` or by naming it as ``module:attr``
in a recipe.

A registry may declare its built-in names and the module that registers them (``builtins``, ``home``):
then :meth:`Registry.known` answers without importing that module (a config is checked at load time
without torch), and :meth:`Registry.get` imports it on first use. A test keeps the declared names equal
to the registered ones.
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class UnknownNameError(KeyError):
    """Raised for a name that is neither registered nor a ``module:attr`` import path."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0])


def is_import_path(name: str) -> bool:
    """Whether ``name`` has the shape of a ``package.module:attr`` import path (nothing is imported)."""
    return bool(_IMPORT_PATH.match(name))


def import_path(path: str) -> object:
    """Resolve ``"package.module:attr"`` to the object it names."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"import path {path!r} must look like 'package.module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import module {module_name!r} named by {path!r}: {exc}") from exc
    obj: object = module
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise ImportError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})") from exc
    return obj


class Registry(Generic[T]):
    """A named table of functions or classes of one kind (``kind`` appears in error messages).

    ``builtins`` are the names that importing ``home`` registers; they count as known before ``home`` is
    imported (so checking a name imports nothing), and :meth:`get` imports ``home`` when it needs them.
    """

    def __init__(self, kind: str, builtins: Iterable[str] = (), home: str | None = None) -> None:
        self.kind = kind
        self.builtins = frozenset(builtins)
        self.home = home
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._items and name in self.builtins and self.home is not None:
            importlib.import_module(self.home)
        if name in self._items:
            return self._items[name]
        if ":" in name:
            return import_path(name)  # type: ignore[return-value]
        raise UnknownNameError(self.unknown_message(name))

    def peek(self, name: str) -> T | None:
        """The object registered under ``name``, or None; imports nothing."""
        return self._items.get(name)

    def known(self) -> list[str]:
        """Every name this registry answers to, declared or registered, without importing anything."""
        return sorted(self.builtins | set(self._items))

    def check(self, name: str) -> str:
        """``name`` if it is known or shaped like ``module:attr`` (not imported); else ValueError naming
        the known ones. What config validators call: it never imports the registry's home."""
        if name in self.builtins or name in self._items or is_import_path(name):
            return name
        raise ValueError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        known = self.known()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return (
            f"unknown {self.kind} {name!r}; known: {', '.join(known)} (or a 'module:attr' import path){hint}"
        )

    def names(self) -> list[str]:
        """The registered names (importing ``home`` first, so the built-ins are among them)."""
        if self.home is not None:
            importlib.import_module(self.home)
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name in self.builtins and self.home is not None:
            importlib.import_module(self.home)
        return name in self._items


def build_once(registry: Registry[Callable[..., R]], spec: dict[str, Any] | str, cache: dict[str, R]) -> R:
    """What ``registry``'s factory named by ``spec`` (``"name"`` or ``{"name": ..., **kwargs}``) builds
    from the spec's keyword arguments, built once per distinct spec and kept in ``cache`` (a model or a
    client that every environment of a process shares)."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    key = json.dumps(spec, sort_keys=True)
    if key not in cache:
        name = spec.pop("name")
        cache[key] = registry.get(name)(**spec)
    return cache[key]
