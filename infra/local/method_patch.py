"""Replacing one method of a moto class for the whole process, and putting it back: how the local runtime's
two moto hooks (:mod:`infra.local.lambda_hook`, :mod:`infra.local.moto_transactions`) install themselves."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class MethodPatch:
    """``owner.name`` replaced by ``replacement`` while installed; :attr:`original` is moto's own method."""

    def __init__(self, owner: type, name: str, replacement: Callable[..., Any]) -> None:
        self._owner = owner
        self._name = name
        self._replacement = replacement
        self._lock = threading.Lock()
        self.original: Any = None

    def install(self) -> None:
        """Idempotent: one patch per process, remembered so :meth:`uninstall` can undo it."""
        with self._lock:
            if self.original is None:
                self.original = getattr(self._owner, self._name)
                setattr(self._owner, self._name, self._replacement)

    def uninstall(self) -> None:
        with self._lock:
            if self.original is not None:
                setattr(self._owner, self._name, self.original)
                self.original = None
