"""``requeue_batches`` and ``jobs.lookup`` against a stand-in of issue 11's contract, with httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from gensail import AsyncGensail, BatchStatus, Gensail, RequeueBatch, RetryPolicy
from gensail import errors as sdk_errors

from tests.sdk.batch_api import BUSY_WORKSPACE, FOREIGN_WORKSPACE, JOB, WORKSPACE, BatchApi
from tests.sdk.conftest import Sleeps


def _client(
    api: BatchApi | httpx.BaseTransport, sleeps: Sleeps | None = None, retry: RetryPolicy | None = None
) -> Gensail:
    transport = httpx.MockTransport(api) if isinstance(api, BatchApi) else api
    return Gensail("gsk_test", "https://api.test", transport=transport, sleep=sleeps or Sleeps(), retry=retry)


def test_create_sends_only_the_chosen_fields_and_an_idempotency_key() -> None:
    api = BatchApi()
    with _client(api) as client:
        batch = client.requeue_batches.create(
            workspace_ids=WORKSPACE, skip_reasons=["duration_below_minimum"], max_jobs=500, dry_run=True
        )
        other = client.requeue_batches.create()

    first, second = api.requests
    assert json.loads(first.content) == {
        "workspace_ids": [WORKSPACE],
        "skip_reasons": ["duration_below_minimum"],
        "max_jobs": 500,
        "only_passing": True,
        "dry_run": True,
    }
    assert json.loads(second.content) == {"only_passing": True, "dry_run": False}
    keys = [request.headers["Idempotency-Key"] for request in api.requests]
    assert all(uuid.UUID(key) for key in keys)
    assert keys[0] != keys[1]
    assert (batch.status, batch.dry_run, batch.selection.max_jobs) == (BatchStatus.PENDING, True, 500)
    assert other.batch_id != batch.batch_id


class LandsThenFails(httpx.BaseTransport):
    """Passes the first request on, but answers it 503 (its answer lost); every later one goes through."""

    def __init__(self, api: BatchApi) -> None:
        self.inner = httpx.MockTransport(api)
        self.failed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.inner.handle_request(request)
        if self.failed:
            return answer
        self.failed = True
        return httpx.Response(503, json={"status": 503, "code": "service_unavailable"})


def test_a_retried_create_whose_first_attempt_landed_answers_the_same_batch() -> None:
    # Given a create whose first attempt lands on the server but whose answer is lost to a 503
    api = BatchApi()
    sleeps = Sleeps()
    with _client(LandsThenFails(api), sleeps) as client:
        # When the client retries it
        batch = client.requeue_batches.create(skip_reasons=["rate_limit"])

    # Then both attempts carried the same key, and the retry answered the one batch the first attempt started
    assert len(api.requests) == 2
    assert api.requests[0].headers["Idempotency-Key"] == api.requests[1].headers["Idempotency-Key"]
    assert len(sleeps.waits) == 1
    assert list(api.batches) == [batch.batch_id]


def test_an_idempotency_key_reused_with_another_selection_is_refused() -> None:
    api = BatchApi()
    with _client(api) as client:
        first = client.requeue_batches.create(skip_reasons=["rate_limit"], idempotency_key="nightly-2026-01-01")
        again = client.requeue_batches.create(skip_reasons=["rate_limit"], idempotency_key="nightly-2026-01-01")
        with pytest.raises(sdk_errors.IdempotencyKeyReused) as raised:
            client.requeue_batches.create(dry_run=True, idempotency_key="nightly-2026-01-01")

    assert again.batch_id == first.batch_id
    assert (raised.value.status, raised.value.code) == (409, "idempotency_key_reused")
    assert len(api.batches) == 1


def test_refusals_raise_their_classes() -> None:
    api = BatchApi()
    with _client(api, retry=RetryPolicy(max_attempts=1)) as client:
        finished = client.requeue_batches.wait(client.requeue_batches.create())
        with pytest.raises(sdk_errors.BatchInProgress) as busy:
            client.requeue_batches.create(workspace_ids=[WORKSPACE, BUSY_WORKSPACE])
        with pytest.raises(sdk_errors.Forbidden):
            client.requeue_batches.create(workspace_ids=[FOREIGN_WORKSPACE])
        with pytest.raises(sdk_errors.BatchNotFound):
            client.requeue_batches.get("rb_nope")
        with pytest.raises(sdk_errors.BatchNotFound):
            client.requeue_batches.cancel("rb_nope")
        with pytest.raises(sdk_errors.BatchFinished):
            client.requeue_batches.cancel(finished)

    assert BUSY_WORKSPACE in busy.value.detail
    assert isinstance(busy.value, sdk_errors.ConflictError)


def test_wait_reports_every_read_and_answers_the_final_batch() -> None:
    # Given a batch of 10 jobs, which the stand-in advances 4 at a time
    api = BatchApi(jobs=10)
    sleeps = Sleeps()
    seen: list[tuple[str, int]] = []
    with _client(api, sleeps) as client:
        batch = client.requeue_batches.create()

        # When the client waits for it
        final = client.requeue_batches.wait(
            batch.batch_id, on_progress=lambda b: seen.append((b.status.value, b.counts.matched)), poll_interval=0.5
        )

    # Then each read was reported, one poll interval apart, up to the completed batch
    assert seen == [("running", 0), ("running", 4), ("running", 8), ("completed", 10)]
    assert sleeps.waits == [0.5, 0.5, 0.5]
    assert (final.status, final.finished, final.counts.matched, final.counts.requeued) == ("completed", True, 10, 8)


def test_wait_gives_up_at_its_timeout_and_leaves_the_batch_running() -> None:
    api = BatchApi(jobs=1000)
    with _client(api) as client:
        batch = client.requeue_batches.create()
        with pytest.raises(sdk_errors.WaitTimeout) as raised:
            client.requeue_batches.wait(batch, poll_interval=2.0, timeout=7.0)

    # Reads at 0, 2, 4 and 6 s; the next one would come after the timeout
    assert raised.value.batch.status == BatchStatus.RUNNING
    assert raised.value.batch.counts.matched == 12
    assert [r.method for r in api.requests].count("GET") == 4


def test_cancel_stops_the_batch_at_its_next_page() -> None:
    api = BatchApi(jobs=1000)
    with _client(api) as client:
        batch = client.requeue_batches.create()
        client.requeue_batches.get(batch)
        accepted = client.requeue_batches.cancel(batch)
        final = client.requeue_batches.wait(batch)

    assert accepted.status == BatchStatus.RUNNING
    assert (final.status, final.finished_at is not None) == (BatchStatus.CANCELLED, True)


def test_list_reads_every_page_newest_first() -> None:
    api = BatchApi()
    with _client(api) as client:
        created = [client.requeue_batches.create().batch_id for _ in range(5)]
        listed = [batch.batch_id for batch in client.requeue_batches.list(workspace_id=WORKSPACE, limit=2)]

    assert listed == list(reversed(created))
    pages = [request for request in api.requests if request.method == "GET"]
    assert [dict(request.url.params) for request in pages] == [
        {"workspace_id": WORKSPACE, "limit": "2"},
        {"workspace_id": WORKSPACE, "limit": "2", "cursor": "2"},
        {"workspace_id": WORKSPACE, "limit": "2", "cursor": "4"},
    ]


def test_lookup_finds_the_job_of_a_source_call() -> None:
    api = BatchApi()
    with _client(api) as client:
        job = client.jobs.lookup("CAL123")
        with pytest.raises(sdk_errors.JobNotFound):
            client.jobs.lookup("CAL999")

    assert (job.job_id, job.source_id) == (JOB["job_id"], "CAL123")
    assert dict(api.requests[0].url.params) == {"source": "callrail", "source_id": "CAL123"}


def test_async_client_creates_waits_lists_and_looks_up() -> None:
    api = BatchApi(jobs=6)
    waits: list[float] = []
    seen: list[int] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def report(batch: RequeueBatch) -> None:
        seen.append(batch.counts.matched)

    async def scenario() -> tuple[RequeueBatch, list[str], str]:
        transport = httpx.MockTransport(api)
        async with AsyncGensail("gsk_test", "https://api.test", transport=transport, sleep=sleep) as client:
            batch = await client.requeue_batches.create(workspace_ids=[WORKSPACE])
            final = await client.requeue_batches.wait(batch, on_progress=report, poll_interval=0.25)
            listed = [b.batch_id async for b in client.requeue_batches.list(limit=1)]
            job = await client.jobs.lookup("CAL123")
            with pytest.raises(sdk_errors.BatchFinished):
                await client.requeue_batches.cancel(final)
            return final, listed, job.job_id

    final, listed, job_id = asyncio.run(scenario())

    assert (final.status, final.counts.matched) == (BatchStatus.COMPLETED, 6)
    assert seen == [0, 4, 6]
    assert waits == [0.25, 0.25]
    assert listed == [final.batch_id]
    assert job_id == JOB["job_id"]


def test_a_create_that_finds_its_first_attempt_still_running_is_retried() -> None:
    # Given a create answered 409 idempotency_key_in_use (its first attempt still running on the server) twice
    api = BatchApi()
    in_use = {"type": "about:blank", "title": "In use", "status": 409, "detail": "running"}
    in_use["code"] = "idempotency_key_in_use"
    answers = [httpx.Response(409, json=in_use), httpx.Response(409, json=in_use)]
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        return answers.pop(0) if answers else api(request)

    sleeps = Sleeps()
    with _client(httpx.MockTransport(handler), sleeps) as client:
        batch = client.requeue_batches.create()
        # And one that is still in use when the budget runs out
        answers.extend([httpx.Response(409, json=in_use)] * RetryPolicy().max_attempts)
        with pytest.raises(sdk_errors.IdempotencyKeyInUse) as raised:
            client.requeue_batches.create()

    # Then the first is retried with its key until the batch is the answer; the second raises after the budget
    assert batch.batch_id == "rb_1"
    assert len(set(keys[:3])) == 1
    assert len(sleeps.waits) == 2 + RetryPolicy().max_attempts - 1
    assert raised.value.attempts == RetryPolicy().max_attempts


def test_other_conflicts_are_not_retried() -> None:
    api = BatchApi()
    sleeps = Sleeps()
    with _client(api, sleeps) as client, pytest.raises(sdk_errors.BatchInProgress):
        client.requeue_batches.create(workspace_ids=[BUSY_WORKSPACE])

    assert (len(api.requests), sleeps.waits) == (1, [])


def test_a_time_window_is_sent_as_rfc_3339() -> None:
    api = BatchApi()
    after = datetime(2026, 1, 1, tzinfo=UTC)
    with _client(api) as client:
        client.requeue_batches.create(skipped_after=after, skipped_before="2026-01-02T00:00:00Z")
        with pytest.raises(ValueError, match="no time zone"):
            client.requeue_batches.create(skipped_after=datetime(2026, 1, 1))

    sent = json.loads(api.requests[0].content)
    assert (sent["skipped_after"], sent["skipped_before"]) == ("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00Z")
    assert len(api.requests) == 1
