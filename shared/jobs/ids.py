"""Job ids: numeric strings allocated without a shared counter.

An id is the milliseconds since 2026-01-01 shifted left by 12 bits, plus 12 low bits. That keeps ids below
2**53 (safe as a JSON number in every client) for about 69 years, roughly ordered by creation, and free of
any hot counter item.

Within one process, ids for moments that do not go backwards are strictly increasing: the low bits start at
a random value and a second id in the same millisecond takes the next value, so a poller that stamps a whole
batch of calls with one ``now`` never collides with itself. Two processes allocating in the same millisecond
collide with a chance of 1 in 4096; the job is written with ``attribute_not_exists``, so such a collision is
detected and retried, never overwritten.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

_EPOCH_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
_RANDOM_BITS = 12

_lock = threading.Lock()
_last_ms = -1  # the millisecond asked for last
_last_id = -1  # the id issued last


def new_job_id(now: datetime | None = None) -> str:
    global _last_ms, _last_id
    moment = now or datetime.now(UTC)
    elapsed_ms = max(0, int(moment.timestamp() * 1000) - _EPOCH_MS)
    candidate = (elapsed_ms << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)
    with _lock:
        if elapsed_ms >= _last_ms:
            # Same or a later millisecond: stay above the last id so this process never repeats one.
            candidate = max(candidate, _last_id + 1)
        # An earlier moment (a backfill) starts a new run from its own random id.
        _last_ms, _last_id = elapsed_ms, candidate
    return str(candidate)
