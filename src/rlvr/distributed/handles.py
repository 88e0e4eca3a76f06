"""Handles: how the trainer calls a role without knowing where it lives.

``handle.call("method", *args)`` runs a role's method and returns its result; ``handle.submit(...)``
returns a :class:`~concurrent.futures.Future`. A :class:`LocalHandle` holds the role object itself;
:class:`rlvr.distributed.ray_backend.RayHandle` holds a Ray actor and adds restart-and-retry.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from rlvr.training.protocols import RoleFailed

__all__ = ["Handle", "LocalHandle", "RoleFailed", "SubmitThread"]


class Handle(Protocol):
    name: str

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any: ...

    def submit(self, method: str, *args: Any, **kwargs: Any) -> Future: ...

    def close(self) -> None: ...


class SubmitThread:
    """``submit(method, ...)`` for a handle: its ``call`` on the handle's own thread, one call at a time in
    submission order, so a background call never races another call to the same role."""

    name: str
    _thread: ThreadPoolExecutor | None = None

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def submit(self, method: str, *args: Any, **kwargs: Any) -> Future:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix=self.name)
        return self._thread.submit(self.call, method, *args, **kwargs)

    def _stop_thread(self, wait: bool) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=wait, cancel_futures=True)
            self._thread = None


class LocalHandle(SubmitThread):
    """A role in this process."""

    def __init__(self, role: Any, name: str) -> None:
        self.role, self.name = role, name

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.role, method)(*args, **kwargs)

    def close(self) -> None:
        self._stop_thread(wait=True)
        close = getattr(self.role, "close", None)
        if callable(close):
            close()
