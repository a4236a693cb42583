"""Publishing a job's result: signed webhook deliveries and the bus's ``Job Completed`` / ``Job Failed`` events."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.config.model import MAX_WEBHOOK_URLS
from shared.jobs.models import Job
from shared.pipeline.errors import PermanentStageError, TransientStageError

SIGNATURE_HEADER = "X-Signature"
USER_AGENT = "Gensail-Webhooks/1"
EVENT_SOURCE = "gensail.pipeline"
JOB_COMPLETED = "Job Completed"
JOB_FAILED = "Job Failed"

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


def _where(url: str) -> str:
    """A URL fit for an error message: no credentials, no query string."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname or ''}{f':{parsed.port}' if parsed.port else ''}{parsed.path}"


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
            raise PermanentStageError(f"Webhook URL {_where(url)!r} is not an http(s) URL")
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
                    raise PermanentStageError(f"Webhook {_where(url)} rejected the delivery with {status}")
                last_problem = f"answered {status}"
                wait = max(wait, _retry_after(response))
            if attempt == self._attempts:
                break
            pause = min(wait, self._max_backoff)
            if give_up is not None and give_up.is_set():
                raise TransientStageError(
                    f"Webhook {_where(url)} {last_problem}; not retried, as another URL refused the delivery"
                )
            if deadline is not None and self._clock() + pause + attempt_seconds(self._timeout) > deadline:
                raise TransientStageError(
                    f"Webhook {_where(url)} {last_problem} on {attempt} attempt(s); no time left for another"
                )
            self._sleep(pause)
        raise TransientStageError(f"Webhook {_where(url)} {last_problem} on all {self._attempts} attempts")


def _retry_after(response: httpx.Response) -> float:
    """Seconds the endpoint asked us to wait (``Retry-After`` in seconds), else 0."""
    try:
        return max(float(response.headers.get("retry-after", "0")), 0.0)
    except ValueError:
        return 0.0  # an HTTP date: fall back to our own backoff


class EventPublisher:
    """Announces finished jobs on the pipeline's event bus."""

    def __init__(self, bus_name: str, events: Any = None) -> None:
        self.bus_name = bus_name
        self._events = events if events is not None else aws.client("events")

    def job_completed(self, job: Job, result_key: str) -> None:
        """``Job Completed`` with the job's tenancy and where its result is stored."""
        self._put(JOB_COMPLETED, {**_job_detail(job, "completed"), "result_key": result_key})

    def job_failed(self, job: Job, failure: dict[str, Any]) -> None:
        """``Job Failed`` with the job's tenancy and the failure (``{stage, error, message}``)."""
        self._put(JOB_FAILED, {**_job_detail(job, "failed"), "failure": failure})

    def _put(self, detail_type: str, detail: dict[str, Any]) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self.bus_name,
        }
        try:
            response = self._events.put_events(Entries=[entry])
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in ("ThrottlingException", "InternalException", "InternalFailure") or status >= 500:
                raise TransientStageError(f"PutEvents {detail_type} failed ({code}); retry later") from error
            raise PermanentStageError(f"PutEvents {detail_type} failed ({code}): {error}") from error
        except BotoCoreError as error:
            raise TransientStageError(f"PutEvents {detail_type} failed: {error}") from error
        if response.get("FailedEntryCount", 0):
            failed: dict[str, Any] = next((item for item in response.get("Entries", []) if item.get("ErrorCode")), {})
            raise TransientStageError(
                f"PutEvents {detail_type} was not accepted ({failed.get('ErrorCode')}: {failed.get('ErrorMessage')})"
            )


def _job_detail(job: Job, status: str) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "workspace_id": job.workspace_id,
        "organization_id": job.organization_id,
        "partner_id": job.partner_id,
        "status": status,
        "requeue_count": job.requeue_count,
    }
