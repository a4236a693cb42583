"""``requeue_batches`` and ``jobs.lookup`` against the local runtime: every problem code, retries, and batches run
to their end (each test on a workspace of its own, since a workspace holds one pending or running batch)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from gensail import BatchStatus, Gensail, RequeueBatch
from gensail import errors as sdk_errors

from infra.local.runtime import LocalRuntime
from tests.sdk.conftest import Faults, Sleeps
from tests.sdk.local_tenants import LocalTenant, new_tenant

POLL = 0.1


def short_sleep(seconds: float) -> None:
    """Polls of a batch, quicker than the client's default second, and never longer than one."""
    time.sleep(min(seconds, 1.0))


@pytest.fixture
def tenant(runtime: LocalRuntime, request: pytest.FixtureRequest) -> LocalTenant:
    return new_tenant(runtime, request.node.name[:40])


@pytest.fixture
def client(runtime: LocalRuntime, tenant: LocalTenant) -> Iterator[Gensail]:
    with Gensail(api_key=tenant.keys["workspace"], base_url=runtime.api_url, sleep=short_sleep) as gensail:
        yield gensail


def test_lookup_finds_the_job_of_a_source_call(client: Gensail, runtime: LocalRuntime, tenant: LocalTenant) -> None:
    # Given a job of the tenant's workspace, and another tenant
    (job,) = tenant.add_skipped(1, duration=5)
    stranger = new_tenant(runtime, "stranger")
    assert job.source_id is not None

    # When the job is looked up by its CallRail id, by the tenant and by the stranger
    found = client.jobs.lookup(job.source_id)
    with (
        Gensail(api_key=stranger.keys["partner"], base_url=runtime.api_url) as other,
        pytest.raises(sdk_errors.Forbidden),
    ):
        other.jobs.lookup(job.source_id)

    # Then the tenant finds it; an unknown call is job_not_found, another source a validation_error
    assert (found.job_id, found.source_id, found.workspace_id) == (job.job_id, job.source_id, tenant.workspace_id)
    with pytest.raises(sdk_errors.JobNotFound):
        client.jobs.lookup("CAL_no_such_call")
    with pytest.raises(sdk_errors.ValidationError):
        client.jobs.lookup(job.source_id, source="hubspot")


def test_a_second_batch_on_a_busy_workspace_is_refused(client: Gensail, tenant: LocalTenant) -> None:
    # Given a batch of the workspace, which the throttle (50 jobs a second) keeps running for seconds
    tenant.add_skipped(300, duration=5)
    first = client.requeue_batches.create(only_passing=False)

    # When another is asked for on the same workspace
    with pytest.raises(sdk_errors.BatchInProgress) as raised:
        client.requeue_batches.create(dry_run=True)

    # Then it is refused, naming the workspace and the batch that holds it
    assert first.status in {BatchStatus.PENDING, BatchStatus.RUNNING}
    assert first.selection.workspace_ids == [tenant.workspace_id]
    assert tenant.workspace_id in raised.value.detail
    assert first.batch_id in raised.value.detail
    client.requeue_batches.cancel(first)


def test_a_create_retried_after_landing_starts_one_batch(
    runtime: LocalRuntime, tenant: LocalTenant, sleeps: Sleeps
) -> None:
    # Given a create whose first attempt lands but whose answer is lost to a 503, then a 429
    tenant.add_skipped(3, duration=5)
    faults = Faults(httpx.HTTPTransport(), [503, 429], through=True, headers={"Retry-After": "1"})
    with Gensail(tenant.keys["workspace"], runtime.api_url, transport=faults, sleep=sleeps) as client:
        # When the client retries it
        batch = client.requeue_batches.create(dry_run=True)
        listed = list(client.requeue_batches.list())

    # Then each attempt carried the same key, and the one batch the first attempt started is the answer
    creates = [request for request in faults.requests if request.method == "POST"]
    keys = {request.headers["Idempotency-Key"] for request in creates}
    assert (len(creates), len(keys), sleeps.waits) == (3, 1, [1.0, 1.0])
    assert [listed_batch.batch_id for listed_batch in listed] == [batch.batch_id]


def test_an_idempotency_key_answers_its_batch_and_refuses_another_body(client: Gensail, tenant: LocalTenant) -> None:
    tenant.add_skipped(3, duration=5)

    first = client.requeue_batches.create(dry_run=True, idempotency_key="nightly-1")
    again = client.requeue_batches.create(dry_run=True, idempotency_key="nightly-1")
    with pytest.raises(sdk_errors.IdempotencyKeyReused):
        client.requeue_batches.create(dry_run=True, max_jobs=2, idempotency_key="nightly-1")

    assert again.batch_id == first.batch_id


def test_get_cancel_and_their_refusals(client: Gensail, runtime: LocalRuntime, tenant: LocalTenant) -> None:
    # Given a batch that the throttle keeps running for seconds, and a key of another tenant
    tenant.add_skipped(300, duration=5)
    batch = client.requeue_batches.create(only_passing=False)
    stranger = new_tenant(runtime, "stranger")

    # When it is read, cancelled twice, and read by the stranger and with unknown ids
    read = client.requeue_batches.get(batch.batch_id)
    cancelled = client.requeue_batches.cancel(batch)
    again = client.requeue_batches.cancel(batch.batch_id)
    with Gensail(api_key=stranger.keys["partner"], base_url=runtime.api_url) as other:
        with pytest.raises(sdk_errors.Forbidden):
            other.requeue_batches.get(batch)
        with pytest.raises(sdk_errors.Forbidden):
            other.requeue_batches.cancel(batch)

    # Then the owner reads and cancels it; unknown ids are batch_not_found
    assert read.batch_id == cancelled.batch_id == again.batch_id == batch.batch_id
    with pytest.raises(sdk_errors.BatchNotFound):
        client.requeue_batches.get("rb_" + "0" * 32)
    with pytest.raises(sdk_errors.BatchNotFound):
        client.requeue_batches.cancel("rb_" + "0" * 32)


def test_listing_needs_a_workspace_for_wider_keys(runtime: LocalRuntime, tenant: LocalTenant) -> None:
    with Gensail(api_key=tenant.keys["organization"], base_url=runtime.api_url) as organization:
        with pytest.raises(sdk_errors.WorkspaceRequired):
            list(organization.requeue_batches.list())
        with pytest.raises(sdk_errors.WorkspaceRequired):
            organization.requeue_batches.create(dry_run=True)
        assert list(organization.requeue_batches.list(workspace_id=tenant.workspace_id)) == []


def test_wait_follows_batches_to_their_end_and_lists_them_page_by_page(client: Gensail, tenant: LocalTenant) -> None:
    # Given 12 skipped jobs long enough to pass the filters, and 5 that are not
    passing = tenant.add_skipped(12, duration=600)
    tenant.add_skipped(5, duration=5)

    # When a dry run and then the batch itself are followed to their end
    reads: list[RequeueBatch] = []
    dry = client.requeue_batches.wait(client.requeue_batches.create(dry_run=True), poll_interval=POLL)
    real = client.requeue_batches.create(skip_reasons=["duration_below_minimum"])
    final = client.requeue_batches.wait(real, on_progress=reads.append, poll_interval=POLL)

    # Then the dry run counted what the batch then did, every read was reported, and the jobs were requeued once
    assert (dry.status, dry.counts.matched, dry.counts.would_pass, dry.counts.requeued) == ("completed", 17, 12, 0)
    assert (final.status, final.counts.matched, final.counts.requeued, final.counts.would_skip) == (
        "completed",
        17,
        12,
        5,
    )
    assert reads[-1] == final
    assert [read.counts.matched for read in reads] == sorted(read.counts.matched for read in reads)
    assert all(job.source_metadata["requeue_count"] == 1 for job in tenant.stored(passing))
    with pytest.raises(sdk_errors.BatchFinished):
        client.requeue_batches.cancel(final)
    pages = list(client.requeue_batches.list(limit=1).pages())
    assert [[batch.batch_id for batch in page.batches] for page in pages] == [[final.batch_id], [dry.batch_id]]
