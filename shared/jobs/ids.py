"""Job ids: numeric strings allocated without a shared counter.

An id is the milliseconds since 2026-01-01 shifted left by 12 bits, plus 12 random bits. That keeps ids
below 2**53 (safe as a JSON number in every client) for about 69 years, roughly ordered by creation, and
free of any hot counter item. Two allocations in the same millisecond collide with a chance of 1 in 4096;
the job is written with ``attribute_not_exists``, so a collision is detected and retried, never overwritten.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

_EPOCH_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
_RANDOM_BITS = 12


def new_job_id(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    elapsed_ms = max(0, int(moment.timestamp() * 1000) - _EPOCH_MS)
    return str((elapsed_ms << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS))
