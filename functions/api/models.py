"""The API's request and response bodies: the public contract, apart from the domain and the stored items.

A job is answered as this module's ``Job``, mapped field by field from the domain's ``shared.jobs.models.Job``:
a field added to or renamed in the stored job changes nothing here until it is mapped on purpose (and
``make openapi`` then shows the change in docs/openapi.json, which the SDK's drift test compares against).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from shared.jobs import models as domain
from shared.jobs.models import JobStatus


class JobEvent(BaseModel):
    """One entry of a job's history: a status change, when, and why."""

    status: JobStatus
    at: str
    cause: str


class JobFailure(BaseModel):
    """Why a job ended ``failed``."""

    stage: str
    error: str
    message: str


class Job(BaseModel):
    """A call on its way through the pipeline."""

    job_id: str = Field(pattern=r"^[0-9]+$")
    partner_id: str
    organization_id: str
    workspace_id: str
    status: JobStatus
    skipped_reason: str | None = None
    skipped_at: str | None = None
    created_at: str
    updated_at: str
    source: str
    source_id: str | None = None
    duration_seconds: int | None = None
    source_metadata: dict[str, Any] = Field(default_factory=dict)
    history: list[JobEvent] = Field(default_factory=list)
    failure: JobFailure | None = None
    result: dict[str, Any] | None = None

    @classmethod
    def of(cls, job: domain.Job) -> Job:
        """The public view of a job."""
        failure = job.failure
        return cls(
            job_id=job.job_id,
            partner_id=job.partner_id,
            organization_id=job.organization_id,
            workspace_id=job.workspace_id,
            status=job.status,
            skipped_reason=job.skipped_reason,
            skipped_at=job.skipped_at,
            created_at=job.created_at,
            updated_at=job.updated_at,
            source=job.source,
            source_id=job.source_id,
            duration_seconds=job.duration_seconds,
            source_metadata=dict(job.source_metadata),
            history=[JobEvent(status=event.status, at=event.at, cause=event.cause) for event in job.history],
            failure=JobFailure(stage=failure.stage, error=failure.error, message=failure.message) if failure else None,
            result=dict(job.result) if job.result is not None else None,
        )


class StatusChange(BaseModel):
    """Body of ``PATCH /api/v1/jobs/{job_id}/status``."""

    # Any string is read, so that another value gets the spec's 400 `invalid_status` rather than a validation
    # error; the document still says which one value is accepted.
    status: str = Field(
        description="The status to move the job to. Only `queued` is accepted; any other value is a 400 "
        "`invalid_status`.",
        examples=["queued"],
        json_schema_extra={"enum": ["queued"]},
    )


class RequeueResponse(BaseModel):
    job_id: str = Field(examples=["12345"])
    previous_status: JobStatus = Field(examples=["skipped"])
    new_status: JobStatus = Field(examples=["queued"])
    message: str = Field(
        examples=[
            "Job requeued successfully (requeue #1). Job will be re-validated against current processing filters."
        ]
    )


class JobList(BaseModel):
    jobs: list[Job]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")
