"""Turning SIGINT / SIGTERM into a request to stop after the current step."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any


class StopSignals:
    """Within the block, SIGINT and SIGTERM ask the loop to stop (``received``) instead of killing it; a
    second signal restores the previous handlers and raises KeyboardInterrupt. Outside the main thread,
    where Python allows no handlers, it does nothing."""

    def __enter__(self) -> StopSignals:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None:
            self.__exit__()
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: aborting")
        self.received = signal.Signals(signum)
        # os.write, not print or logging: the handler may interrupt a write to the same stream
        os.write(
            2,
            f"\nrlvr: {self.received.name}: finishing this step, then writing a checkpoint "
            "(send it again to abort at once)\n".encode(),
        )

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
