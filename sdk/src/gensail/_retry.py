"""When to try a request again, and how long to wait first: shared by the sync and the async client.

429 and 5xx answers, ``idempotency_key_in_use`` (a retried create that arrived while its first attempt still
runs) and connection failures are retried with exponential backoff and full jitter (a random wait
between 0 and ``initial_delay * 2**(retry - 1)``, at most ``max_delay``). A ``Retry-After`` header replaces
the backoff with the wait it asks for. The budget bounds both the attempts and the total time: a wait that would
end past ``max_elapsed`` seconds after the first attempt is not taken, and the last answer is raised instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRIED_STATUSES = frozenset({429}) | frozenset(range(500, 600))
# Problem codes that ask to come back later whatever their status: the first attempt with this Idempotency-Key is
# still running on the server, and its batch is the answer once it ends.
RETRIED_CODES = frozenset({"idempotency_key_in_use"})
# Failures where the request may not have reached the API, or its answer was lost on the way.
RETRIED_ERRORS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts and how much time a request may take; ``RetryPolicy(max_attempts=1)`` never retries."""

    max_attempts: int = 4
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_elapsed: float = 30.0
    statuses: frozenset[int] = RETRIED_STATUSES
    codes: frozenset[str] = RETRIED_CODES
    jitter: Callable[[float], float] = field(default=lambda ceiling: random.uniform(0, ceiling), repr=False)  # noqa: S311 - spreading retries, not a secret

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the first retry), full jitter."""
        return self.jitter(min(self.max_delay, self.initial_delay * 2 ** (retry - 1)))


class RetryBudget:
    """One request's attempts: after each answer or failure, how long to wait before the next, or ``None``."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._started = clock()
        self._slept = 0.0
        self.attempts = 0

    def start_attempt(self) -> None:
        self.attempts += 1

    def after_response(self, response: httpx.Response) -> float | None:
        """The wait before retrying this answer, or ``None`` to hand it to the caller as it is."""
        if response.status_code not in self._policy.statuses and problem_code(response) not in self._policy.codes:
            return None
        asked = retry_after_seconds(response.headers.get("retry-after"))
        return self._wait(asked if asked is not None else self._policy.backoff(self.attempts))

    def after_error(self, error: Exception) -> float | None:
        """The wait before retrying after a failed connection, or ``None`` to raise it."""
        if not isinstance(error, RETRIED_ERRORS):
            return None
        return self._wait(self._policy.backoff(self.attempts))

    def slept(self, seconds: float) -> None:
        """Count a wait, so that the budget holds even when the sleep function does not pass real time."""
        self._slept += seconds

    def _wait(self, delay: float) -> float | None:
        if self.attempts >= self._policy.max_attempts:
            return None
        elapsed = max(self._clock() - self._started, self._slept)
        if elapsed + delay > self._policy.max_elapsed:
            return None
        return delay


def problem_code(response: httpx.Response) -> str | None:
    """The ``code`` of an error answer's problem body, if it has one."""
    if response.is_success:
        return None
    try:
        body = response.json()
    except ValueError:  # not JSON, or not UTF-8
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def retry_after_seconds(header: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date; ``None`` if absent or unreadable."""
    if header is None:
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())
