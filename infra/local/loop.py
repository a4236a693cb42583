"""A daemon thread that runs until stopped: what the local stream poller, queue poller and scheduler share."""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from typing import Any

Invoke = Callable[[str, Any], Any]  # (function logical id, event) -> the handler's result


class BackgroundLoop(abc.ABC):
    """Runs :meth:`_run` on a daemon thread; :meth:`_run` returns once ``self._stop`` is set."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @abc.abstractmethod
    def _run(self) -> None: ...
