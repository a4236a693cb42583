"""Conditional status transitions with history, as the worker and the pipeline stages make them."""

from __future__ import annotations

import pytest

from shared.aws import client as aws_client
from shared.errors import InvalidTransition, JobNotFound
from shared.jobs.models import JobStatus
from shared.jobs.repository import HISTORY_LIMIT, JobRepository
from tests.conftest import Tenants
from tests.support.aws import TABLE_NAME
from tests.support.factories import store_job


def test_a_queued_job_moves_forward_and_records_why(tenants: Tenants) -> None:
    job = store_job(tenants.workspace(0), status=JobStatus.QUEUED, duration=40)
    jobs = JobRepository(TABLE_NAME, aws_client("dynamodb"))

    moved = jobs.transition(
        job.job_id, JobStatus.QUEUED, JobStatus.TRANSCRIBING, now="2026-11-28T00:00:00.000Z", cause="filters passed"
    )

    assert moved.status is JobStatus.TRANSCRIBING
    assert moved.history[-1].cause == "filters passed"
    assert moved.updated_at == "2026-11-28T00:00:00.000Z"


def test_skipping_sets_the_reason_and_keeps_requeue_metadata(tenants: Tenants) -> None:
    job = store_job(tenants.workspace(0), status=JobStatus.QUEUED, duration=12)
    jobs = JobRepository(TABLE_NAME, aws_client("dynamodb"))

    skipped = jobs.transition(
        job.job_id,
        JobStatus.QUEUED,
        JobStatus.SKIPPED,
        now="2026-11-28T00:00:00.000Z",
        cause="filters failed",
        set_fields={"skipped_reason": "duration_below_minimum:12<30", "skipped_at": "2026-11-28T00:00:00.000Z"},
    )

    assert skipped.skipped_reason == "duration_below_minimum:12<30"
    assert skipped.source_metadata == job.source_metadata
    listed = jobs.list_jobs(job.workspace_id, JobStatus.SKIPPED, 10).jobs
    assert [listed_job.job_id for listed_job in listed] == [job.job_id]


def test_a_stale_transition_is_refused_and_changes_nothing(tenants: Tenants) -> None:
    job = store_job(tenants.workspace(0), status=JobStatus.QUEUED, duration=40)
    jobs = JobRepository(TABLE_NAME, aws_client("dynamodb"))
    jobs.transition(job.job_id, JobStatus.QUEUED, JobStatus.TRANSCRIBING, now="t1", cause="first worker")

    with pytest.raises(InvalidTransition, match="'transcribing', not 'queued'"):
        jobs.transition(job.job_id, JobStatus.QUEUED, JobStatus.SKIPPED, now="t2", cause="second worker")

    stored = jobs.get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.TRANSCRIBING
    assert len(stored.history) == 1


def test_a_transition_the_lifecycle_forbids_is_refused_before_any_write(tenants: Tenants) -> None:
    job = store_job(tenants.workspace(0), status=JobStatus.COMPLETED)

    with pytest.raises(InvalidTransition):
        JobRepository(TABLE_NAME, aws_client("dynamodb")).transition(
            job.job_id, JobStatus.COMPLETED, JobStatus.QUEUED, now="t", cause="no"
        )


def test_a_missing_job_is_not_found(aws: None) -> None:
    with pytest.raises(JobNotFound):
        JobRepository(TABLE_NAME, aws_client("dynamodb")).transition(
            "404", JobStatus.QUEUED, JobStatus.TRANSCRIBING, now="t", cause="x"
        )


def test_history_keeps_only_the_latest_changes(tenants: Tenants) -> None:
    # Given a job that has been skipped and requeued many times
    workspace = tenants.workspace(0)
    job = store_job(workspace, status=JobStatus.SKIPPED, duration=5)
    jobs = JobRepository(TABLE_NAME, aws_client("dynamodb"))
    caller = tenants.callers[workspace.workspace_id]
    for round_number in range(HISTORY_LIMIT):
        jobs.requeue(job.job_id, caller, now=f"t{round_number:03d}a")
        jobs.transition(
            job.job_id,
            JobStatus.QUEUED,
            JobStatus.SKIPPED,
            now=f"t{round_number:03d}b",
            cause="filters",
            set_fields={"skipped_reason": "duration_below_minimum:5<30", "skipped_at": "t"},
        )

    # Then it keeps the latest HISTORY_LIMIT changes, newest last, and counts every requeue
    stored = jobs.get(job.job_id)
    assert stored is not None
    assert len(stored.history) == HISTORY_LIMIT
    assert stored.history[-1].at == f"t{HISTORY_LIMIT - 1:03d}b"
    assert stored.history[0].at == f"t{HISTORY_LIMIT // 2:03d}a"
    assert stored.requeue_count == HISTORY_LIMIT
