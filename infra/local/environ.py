"""Per-thread environment variables: Lambda gives each function a process, the local runtime a thread, so
``os.environ`` becomes a mapping that reads the calling thread's :func:`overlay` first."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

_INSTALL_LOCK = threading.Lock()


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` with the calling thread's overlay on top; writes go to the process environment."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> Mapping[str, str]:
        return getattr(self._local, "overlay", {})

    def __getitem__(self, name: str) -> str:
        overlay = self._overlay()
        return overlay[name] if name in overlay else self.base[name]

    def __setitem__(self, name: str, value: str) -> None:
        self.base[name] = value

    def __delitem__(self, name: str) -> None:
        if name in self.base or name not in self._overlay():
            del self.base[name]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        yield from overlay
        yield from (name for name in self.base if name not in overlay)

    def __len__(self) -> int:
        return len(set(self.base) | set(self._overlay()))

    def copy(self) -> dict[str, str]:
        return dict(self)

    @contextmanager
    def overlay(self, values: Mapping[str, str]) -> Iterator[None]:
        previous = self._overlay()
        self._local.overlay = {**previous, **values}
        try:
            yield
        finally:
            self._local.overlay = previous


def install() -> ThreadEnviron:
    """Replace ``os.environ`` by a :class:`ThreadEnviron` over it (idempotent)."""
    with _INSTALL_LOCK:
        if not isinstance(os.environ, ThreadEnviron):
            # Replacing, not clearing: os.getenv and every os.environ reader now read through the overlay.
            os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003
        return os.environ  # type: ignore[return-value]


@contextmanager
def overlay(values: Mapping[str, str]) -> Iterator[None]:
    """Within the block, the calling thread sees ``values`` over the process environment."""
    with install().overlay(values):
        yield
