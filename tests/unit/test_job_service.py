"""JobService through in-memory ports: what an API client sees when it reads, lists and requeues jobs."""

from __future__ import annotations

import pytest

from shared.access import Caller, ScopeKind, TenantPath
from shared.errors import AccessDenied, InvalidCursor, InvalidStatus, JobNotFound, JobNotSkipped, WorkspaceRequired
from shared.jobs.cursor import CursorCodec
from shared.jobs.models import Job, JobStatus
from shared.jobs.service import JobService, WorkspaceDirectory
from tests.unit.fakes import FakeJobStore

HOME = TenantPath(partner_id="p1", organization_id="o1", workspace_id="w1")
NEIGHBOUR = TenantPath(partner_id="p1", organization_id="o1", workspace_id="w2")
FOREIGN = TenantPath(partner_id="p9", organization_id="o9", workspace_id="w9")
WORKSPACE_KEY = Caller(scope=ScopeKind.WORKSPACE, scope_id="w1", key_id="k-ws")
ORGANIZATION_KEY = Caller(scope=ScopeKind.ORGANIZATION, scope_id="o1", key_id="k-org")


def job(job_id: str, path: TenantPath, status: JobStatus = JobStatus.SKIPPED) -> Job:
    skipped = status is JobStatus.SKIPPED
    return Job(
        job_id=job_id,
        **path.model_dump(),
        status=status,
        skipped_reason="duration_below_minimum:12<30" if skipped else None,
        skipped_at="2026-06-01T00:00:00Z" if skipped else None,
        created_at="2026-06-01T00:00:00Z",
        updated_at="2026-06-01T00:00:00Z",
        source="callrail",
        duration_seconds=12,
    )


def service(store: FakeJobStore) -> JobService:
    paths = {path.workspace_id: path for path in (HOME, NEIGHBOUR, FOREIGN)}
    return JobService(store, WorkspaceDirectory(paths.get, ttl_seconds=60), lambda: CursorCodec(b"s" * 32))


def test_a_requeued_job_is_queued_again_with_the_skip_it_had_kept_in_its_metadata() -> None:
    # Given a job skipped for being short
    store = FakeJobStore(job("1", HOME))
    # When the workspace's key requeues it
    result = service(store).requeue("1", "queued", WORKSPACE_KEY)
    # Then it is queued, the answer says which requeue this was, and the skip is remembered
    assert result.job.status is JobStatus.QUEUED
    assert result.previous_status is JobStatus.SKIPPED
    assert "requeue #1" in result.message
    assert result.job.skipped_reason is None
    assert result.job.source_metadata["previous_skipped_reason"] == "duration_below_minimum:12<30"
    assert result.job.source_metadata["last_requeued_by"] == "workspace"
    # And a second requeue of the now queued job is refused
    with pytest.raises(JobNotSkipped):
        service(store).requeue("1", "queued", WORKSPACE_KEY)


def test_only_queued_is_a_status_a_job_can_be_sent_to() -> None:
    store = FakeJobStore(job("1", HOME))
    with pytest.raises(InvalidStatus):
        service(store).requeue("1", "completed", WORKSPACE_KEY)
    assert store.jobs["1"].status is JobStatus.SKIPPED


def test_jobs_of_other_tenants_are_refused_and_unknown_ones_are_not_found() -> None:
    store = FakeJobStore(job("1", FOREIGN), job("2", NEIGHBOUR))
    with pytest.raises(AccessDenied):
        service(store).get("1", ORGANIZATION_KEY)
    with pytest.raises(AccessDenied):
        service(store).requeue("2", "queued", WORKSPACE_KEY)
    with pytest.raises(JobNotFound):
        service(store).get("404", WORKSPACE_KEY)
    assert service(store).get("2", ORGANIZATION_KEY).workspace_id == "w2"


def test_a_listing_pages_newest_first_and_its_cursor_only_continues_the_same_listing() -> None:
    # Given five skipped jobs and one completed job in a workspace
    store = FakeJobStore(*(job(str(n), HOME) for n in range(1, 6)), job("9", HOME, JobStatus.COMPLETED))
    jobs = service(store)
    # When the skipped ones are listed two at a time
    first = jobs.list(WORKSPACE_KEY, None, JobStatus.SKIPPED, 2, None)
    second = jobs.list(WORKSPACE_KEY, None, JobStatus.SKIPPED, 2, first.next_cursor)
    last = jobs.list(WORKSPACE_KEY, None, JobStatus.SKIPPED, 2, second.next_cursor)
    # Then every skipped job comes once, newest first, and the last page says so
    assert [j.job_id for page in (first, second, last) for j in page.jobs] == ["5", "4", "3", "2", "1"]
    assert last.next_cursor is None
    # And the cursor cannot be replayed against another filter
    with pytest.raises(InvalidCursor):
        jobs.list(WORKSPACE_KEY, None, JobStatus.COMPLETED, 2, first.next_cursor)


def test_a_key_above_a_workspace_must_name_one_it_covers() -> None:
    jobs = service(FakeJobStore(job("1", NEIGHBOUR)))
    with pytest.raises(WorkspaceRequired):
        jobs.list(ORGANIZATION_KEY, None, None, 10, None)
    for workspace in ("w9", "unknown"):
        with pytest.raises(AccessDenied):
            jobs.list(ORGANIZATION_KEY, workspace, None, 10, None)
    with pytest.raises(AccessDenied):
        jobs.list(WORKSPACE_KEY, "w2", None, 10, None)
    assert [j.job_id for j in jobs.list(ORGANIZATION_KEY, "w2", None, 10, None).jobs] == ["1"]
