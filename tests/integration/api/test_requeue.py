"""PATCH /api/v1/jobs/{job_id}/status, exactly as the spec describes it."""

from __future__ import annotations

import pytest

from shared.aws import client as aws_client
from shared.jobs.models import JobStatus, SkipReason
from shared.jobs.repository import JobRepository
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.support.aws import TABLE_NAME
from tests.support.factories import store_job

SPEC_MESSAGE = "Job requeued successfully (requeue #{n}). Job will be re-validated against current processing filters."


def test_requeue_of_a_skipped_job_returns_the_spec_response(api: ApiCall, tenants: Tenants) -> None:
    # Given a job skipped for being too short
    workspace = tenants.workspace(0)
    job = store_job(workspace, duration=12)

    # When the workspace's key requeues it
    reply = api(
        "PATCH", f"/api/v1/jobs/{job.job_id}/status", tenants.callers[workspace.workspace_id], {"status": "queued"}
    )

    # Then the response is the spec's, word for word
    assert reply.status == 200
    assert reply.body == {
        "job_id": job.job_id,
        "previous_status": "skipped",
        "new_status": "queued",
        "message": SPEC_MESSAGE.format(n=1),
    }


def test_requeue_records_the_metadata_of_the_spec(api: ApiCall, tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    job = store_job(workspace, duration=12)
    caller = tenants.callers[workspace.organization_id]

    api("PATCH", f"/api/v1/jobs/{job.job_id}/status", caller, {"status": "queued"})

    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.QUEUED
    assert stored.skipped_reason is None
    assert stored.skipped_at is None
    metadata = stored.source_metadata
    assert metadata["requeue_count"] == 1
    assert metadata["last_requeued_by"] == "organization"
    assert metadata["previous_skipped_reason"] == SkipReason.duration_below_minimum(12, 30)
    assert metadata["previous_skipped_at"] == job.skipped_at
    assert metadata["last_requeued_at"] >= job.created_at
    # Fields that came with the call are kept beside the requeue metadata.
    assert metadata["direction"] == "inbound"
    assert stored.history[-1].status is JobStatus.QUEUED


def test_the_requeue_number_counts_every_requeue(api: ApiCall, tenants: Tenants) -> None:
    # Given a job that was requeued once and skipped again by the worker
    workspace = tenants.workspace(1)
    caller = tenants.callers[workspace.workspace_id]
    job = store_job(workspace, duration=20)
    api("PATCH", f"/api/v1/jobs/{job.job_id}/status", caller, {"status": "queued"})
    repository = JobRepository(TABLE_NAME, aws_client("dynamodb"))
    stored = repository.get(job.job_id)
    assert stored is not None
    repository.create(
        stored.model_copy(
            update={"job_id": "1", "status": JobStatus.SKIPPED, "skipped_reason": "rate_limit", "skipped_at": "x"}
        )
    )  # a second, unrelated job must not disturb the count
    _skip_again(job.job_id)

    # When it is requeued a second time
    reply = api("PATCH", f"/api/v1/jobs/{job.job_id}/status", caller, {"status": "queued"})

    # Then the message says requeue #2 and the previous reason is the latest one
    assert reply.status == 200
    assert reply.body["message"] == SPEC_MESSAGE.format(n=2)
    stored = repository.get(job.job_id)
    assert stored is not None
    assert stored.source_metadata["requeue_count"] == 2
    assert stored.source_metadata["previous_skipped_reason"] == "duration_below_minimum:20<45"


def _skip_again(job_id: str) -> None:
    import boto3

    boto3.client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
        UpdateExpression="SET #s = :s, skipped_reason = :r, skipped_at = :t",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":s": {"S": "skipped"},
            ":r": {"S": "duration_below_minimum:20<45"},
            ":t": {"S": "2026-11-28T00:00:00.000Z"},
        },
    )


def test_a_status_other_than_queued_is_refused(api: ApiCall, tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    job = store_job(workspace)

    reply = api(
        "PATCH", f"/api/v1/jobs/{job.job_id}/status", tenants.callers[workspace.workspace_id], {"status": "completed"}
    )

    assert reply.status == 400
    assert reply.body["code"] == "invalid_status"
    assert "only 'queued' is supported" in reply.body["detail"]
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.SKIPPED


def test_a_job_that_is_not_skipped_is_refused(api: ApiCall, tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    job = store_job(workspace, status=JobStatus.COMPLETED, duration=120)

    reply = api(
        "PATCH", f"/api/v1/jobs/{job.job_id}/status", tenants.callers[workspace.workspace_id], {"status": "queued"}
    )

    assert reply.status == 400
    assert reply.body["code"] == "job_not_skipped"
    assert "'completed'" in reply.body["detail"]


def test_a_job_of_another_tenant_is_forbidden_and_untouched(api: ApiCall, tenants: Tenants) -> None:
    job = store_job(tenants.workspace(0))
    foreign = tenants.callers[tenants.workspace(1).workspace_id]

    reply = api("PATCH", f"/api/v1/jobs/{job.job_id}/status", foreign, {"status": "queued"})

    assert reply.status == 403
    assert reply.body["code"] == "forbidden"
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.SKIPPED


def test_an_unknown_job_is_not_found(api: ApiCall, tenants: Tenants) -> None:
    reply = api("PATCH", "/api/v1/jobs/999999/status", tenants.callers["ptn_0"], {"status": "queued"})

    assert reply.status == 404
    assert reply.body["code"] == "job_not_found"
    assert reply.headers["Content-Type"] == "application/problem+json"


def test_malformed_requests_are_400_problems(api: ApiCall, tenants: Tenants) -> None:
    caller = tenants.callers["ptn_0"]
    job = store_job(tenants.workspace(0))

    cases = [
        api("PATCH", f"/api/v1/jobs/{job.job_id}/status", caller, {}),
        api("PATCH", f"/api/v1/jobs/{job.job_id}/status", caller, "not json"),
        api("PATCH", "/api/v1/jobs/abc/status", caller, {"status": "queued"}),
    ]

    for reply in cases:
        assert reply.status == 400
        assert reply.body["code"] == "validation_error"
        assert reply.body["errors"]


MULTIPART_STATUS = '--b\r\nContent-Disposition: form-data; name="status"\r\n\r\nqueued\r\n--b--\r\n'


@pytest.mark.filterwarnings("ignore:Received multipart/form-data without base64")  # Powertools, on the multipart case
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"status": "queued"}'),  # even with a JSON body
        # Powertools would read a form body as fields; this API takes JSON only
        ("application/x-www-form-urlencoded", "status=queued"),
        ("multipart/form-data; boundary=b", MULTIPART_STATUS),
        (None, '{"status": "queued"}'),
    ],
    ids=["text", "form", "multipart", "no content type"],
)
def test_a_requeue_whose_body_is_not_declared_json_is_a_415_problem_and_the_job_is_untouched(
    api: ApiCall, tenants: Tenants, content_type: str | None, body: str
) -> None:
    # Given a skipped job
    workspace = tenants.workspace(0)
    job = store_job(workspace)

    # When its requeue is sent with a body not declared JSON
    reply = api(
        "PATCH",
        f"/api/v1/jobs/{job.job_id}/status",
        tenants.callers[workspace.workspace_id],
        body,
        headers={"Content-Type": content_type} if content_type else {"Content-Type": ""},
    )

    # Then it is refused with the catalogue's 415 problem, and the job stays skipped
    assert reply.status == 415
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.body == {
        "type": "https://analytics-api.gensail.com/problems/unsupported_media_type",
        "title": "Unsupported media type",
        "status": 415,
        "detail": "The request body must be application/json.",
        "code": "unsupported_media_type",
        "instance": f"/api/v1/jobs/{job.job_id}/status",
    }
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.SKIPPED


def test_a_json_media_type_with_parameters_is_accepted(api: ApiCall, tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    job = store_job(workspace)

    reply = api(
        "PATCH",
        f"/api/v1/jobs/{job.job_id}/status",
        tenants.callers[workspace.workspace_id],
        {"status": "queued"},
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert reply.status == 200
