"""Retries: which answers are retried, how long the client waits, and where the budget stops it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from gensail import AsyncGensail, Gensail, RetryPolicy
from gensail import errors as sdk_errors
from gensail._retry import retry_after_seconds

from tests.sdk.conftest import Sleeps

JOB = {
    "job_id": "1",
    "partner_id": "ptn_1",
    "organization_id": "org_1",
    "workspace_id": "ws_1",
    "status": "completed",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "source": "callrail",
}


def _answers(*statuses: int, headers: dict[str, str] | None = None) -> tuple[httpx.MockTransport, list[int]]:
    """A transport answering ``statuses`` in turn (then 200 with a job), and the statuses it answered."""
    sent: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        status = statuses[len(sent)] if len(sent) < len(statuses) else 200
        sent.append(status)
        return httpx.Response(status, json=JOB if status == 200 else {}, headers=headers)

    return httpx.MockTransport(handler), sent


def test_client_errors_are_not_retried(sleeps: Sleeps) -> None:
    transport, sent = _answers(400, 404)
    with (
        Gensail("gsk_test", "https://api.test", transport=transport, sleep=sleeps) as client,
        pytest.raises(sdk_errors.BadRequestError),
    ):
        client.jobs.get("1")

    assert (sent, sleeps.waits) == ([400], [])


def test_backoff_grows_exponentially_with_full_jitter(sleeps: Sleeps) -> None:
    # Given a policy whose jitter takes the whole ceiling, and a run of 5xx answers
    policy = RetryPolicy(max_attempts=6, initial_delay=0.5, max_delay=3.0, jitter=lambda ceiling: ceiling)
    transport, sent = _answers(500, 500, 500, 500, 500)
    with Gensail("gsk_test", "https://api.test", transport=transport, sleep=sleeps, retry=policy) as client:
        job = client.jobs.get("1")

    # Then each wait doubles up to the cap, and the answer arrives
    assert job.job_id == "1"
    assert sleeps.waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert sent == [500] * 5 + [200]


def test_jitter_spreads_waits_between_zero_and_the_ceiling() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)

    waits = [policy.backoff(4) for _ in range(200)]

    assert all(0 <= wait <= 8.0 for wait in waits)
    assert len(set(waits)) > 100


def test_a_retry_after_longer_than_the_budget_is_not_waited(sleeps: Sleeps) -> None:
    transport, sent = _answers(429, headers={"Retry-After": "120"})
    with (
        Gensail("gsk_test", "https://api.test", transport=transport, sleep=sleeps) as client,
        pytest.raises(sdk_errors.RateLimitError) as raised,
    ):
        client.jobs.get("1")

    assert (sent, sleeps.waits, raised.value.retry_after) == ([429], [], "120")


def test_total_time_is_bounded(sleeps: Sleeps) -> None:
    # Given answers of 503 that each take 4 s, and a budget of 10 s
    now = [0.0]
    sent: list[float] = []

    def slow_failure(_: httpx.Request) -> httpx.Response:
        now[0] += 4.0
        sent.append(now[0])
        return httpx.Response(503, json={})

    policy = RetryPolicy(max_attempts=50, max_elapsed=10.0, jitter=lambda ceiling: 0.0)
    client = Gensail(
        "gsk_test",
        "https://api.test",
        transport=httpx.MockTransport(slow_failure),
        sleep=sleeps,
        clock=lambda: now[0],
        retry=policy,
    )

    # When a call is made
    with client, pytest.raises(sdk_errors.ServiceUnavailableError) as raised:
        client.jobs.get("1")

    # Then no attempt starts after 10 s: the third answer (at 12 s) is raised
    assert sent == [4.0, 8.0, 12.0]
    assert raised.value.attempts == 3


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:05 GMT", now=lambda: now) == 5.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now=lambda: now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_async_client_retries_the_same_way() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    sent: list[int] = []

    async def handler(_: httpx.Request) -> httpx.Response:
        sent.append(len(sent))
        if len(sent) == 1:
            return httpx.Response(429, json={}, headers={"Retry-After": "1"})
        if len(sent) == 2:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=JOB)

    async def get() -> str:
        transport = httpx.MockTransport(handler)
        async with AsyncGensail("gsk_test", "https://api.test", transport=transport, sleep=sleep) as client:
            return (await client.jobs.get("1")).job_id

    assert asyncio.run(get()) == "1"
    assert len(sent) == 3
    assert waits[0] == 1.0
    assert 0 <= waits[1] <= RetryPolicy().initial_delay * 2


def test_connection_failures_past_the_budget_raise_api_connection_error(sleeps: Sleeps) -> None:
    def refuse(_: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    transport = httpx.MockTransport(refuse)
    with (
        Gensail("gsk_test", "https://api.test", transport=transport, sleep=sleeps) as client,
        pytest.raises(sdk_errors.APIConnectionError) as raised,
    ):
        client.jobs.get("1")

    assert raised.value.attempts == RetryPolicy().max_attempts
    assert len(sleeps.waits) == RetryPolicy().max_attempts - 1
