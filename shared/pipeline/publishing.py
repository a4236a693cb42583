"""Publishing a job's result to customers: signed webhook deliveries.

The bus's ``Job Completed`` / ``Job Failed`` events are ``shared.adapters.eventbridge``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx

from shared.config.model import MAX_WEBHOOK_URLS
from shared.pipeline.errors import PermanentStageError, TransientStageError
from shared.urls import describe_url

SIGNATURE_HEADER = "X-Signature"
USER_AGENT = "Gensail-Webhooks/1"

_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_MAX_BACKOFF_SECONDS = 30.0
# How long one publish spends on its webhooks, all URLs at once: a retry that could not finish in what is left is
# not started, and the stage fails transiently so the state machine retries it later (infra sizes the publish
# function's timeout from this).
DELIVERY_BUDGET_SECONDS = 60.0


def attempt_seconds(timeout: httpx.Timeout = _TIMEOUT) -> float:
    """The longest one delivery attempt can take: connecting, then writing the body and reading the answer."""
    return float((timeout.connect or 0) + (timeout.write or 0) + (timeout.read or 0))


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Signature`` value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`` (Stripe style)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookDelivery:
    """POSTs a signed body to a customer's endpoint, retrying what may succeed later."""

    def __init__(
        self,
        http: httpx.Client | None = None,
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        *,
        timeout: httpx.Timeout = _TIMEOUT,
        max_backoff_seconds: float = _MAX_BACKOFF_SECONDS,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        # Redirects are not followed: a signed POST goes only where the customer configured it.
        self._http = http if http is not None else httpx.Client(timeout=timeout, follow_redirects=False)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._sleep = sleep
        self._clock = clock
        self._timeout = timeout

    def deliver_all(self, urls: Sequence[str], body: bytes, secret: bytes) -> int:
        """Deliver ``body`` to every URL at once, within ``DELIVERY_BUDGET_SECONDS``; returns how many were sent.

        A URL that refuses the delivery for good makes this a PermanentStageError; one that could not be reached in
        time a TransientStageError (the stage is retried, and every URL gets the result again: at least once).
        """
        if not urls:
            return 0
        deadline = self._clock() + DELIVERY_BUDGET_SECONDS
        refused = threading.Event()  # once one URL refuses for good the job fails: the others stop retrying

        def deliver_one(url: str) -> int:
            try:
                return self.deliver(url, body, secret, deadline=deadline, give_up=refused)
            except PermanentStageError:
                refused.set()
                raise

        with ThreadPoolExecutor(max_workers=min(len(urls), MAX_WEBHOOK_URLS)) as pool:
            futures = [pool.submit(deliver_one, url) for url in urls]
        problems = [future.exception() for future in futures]
        for problem in problems:
            if isinstance(problem, PermanentStageError):
                raise problem
        for problem in problems:
            if problem is not None:
                raise problem
        return len(urls)

    def deliver(
        self,
        url: str,
        body: bytes,
        secret: bytes,
        *,
        deadline: float | None = None,
        give_up: threading.Event | None = None,
    ) -> int:
        """Deliver ``body`` to ``url`` and return how many attempts it took.

        2xx is done; 408, 429, 5xx, timeouts and connection errors are retried with exponential backoff; any
        other answer is a PermanentStageError at once; running out of attempts, or of time before ``deadline``
        (``clock`` time) for another attempt, is a TransientStageError, as is ``give_up`` being set before a retry.
        """
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise PermanentStageError(f"Webhook URL {describe_url(url)!r} is not an http(s) URL")
        last_problem = ""
        for attempt in range(1, self._attempts + 1):
            timestamp = int(self._clock())
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(secret, body, timestamp),
                "User-Agent": USER_AGENT,
            }
            wait = self._backoff * 2 ** (attempt - 1)
            try:
                response = self._http.post(url, content=body, headers=headers, timeout=self._timeout)
            except httpx.TimeoutException:
                last_problem = "timed out"
            except httpx.TransportError as error:
                last_problem = f"connection failed ({type(error).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return attempt
                if status not in (408, 429) and status < 500:
                    raise PermanentStageError(f"Webhook {describe_url(url)} rejected the delivery with {status}")
                last_problem = f"answered {status}"
                wait = max(wait, _retry_after(response))
            if attempt == self._attempts:
                break
            pause = min(wait, self._max_backoff)
            if give_up is not None and give_up.is_set():
                raise TransientStageError(
                    f"Webhook {describe_url(url)} {last_problem}; not retried, as another URL refused the delivery"
                )
            if deadline is not None and self._clock() + pause + attempt_seconds(self._timeout) > deadline:
                raise TransientStageError(
                    f"Webhook {describe_url(url)} {last_problem} on {attempt} attempt(s); no time left for another"
                )
            self._sleep(pause)
        raise TransientStageError(f"Webhook {describe_url(url)} {last_problem} on all {self._attempts} attempts")


def _retry_after(response: httpx.Response) -> float:
    """Seconds the endpoint asked us to wait (``Retry-After`` in seconds), else 0."""
    try:
        return max(float(response.headers.get("retry-after", "0")), 0.0)
    except ValueError:
        return 0.0  # an HTTP date: fall back to our own backoff
