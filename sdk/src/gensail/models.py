"""Response and request bodies of the jobs API, as the API's OpenAPI document describes them.

Unknown fields in an answer are ignored, so a newer API does not break an older client; a test compares these
models with the document field by field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class JobStatus(StrEnum):
    """Where a job is on its way through the pipeline."""

    QUEUED = "queued"
    TRANSCRIBING = "transcribing"
    ANALYZING = "analyzing"
    PUBLISHING = "publishing"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"


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

    job_id: str
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


class JobList(BaseModel):
    """One page of a workspace's jobs, newest first."""

    jobs: list[Job]
    next_cursor: str | None


class StatusChange(BaseModel):
    """Body of ``PATCH /api/v1/jobs/{job_id}/status``."""

    status: Literal["queued"]


class RequeueResponse(BaseModel):
    """The answer to a requeue."""

    job_id: str
    previous_status: JobStatus
    new_status: JobStatus
    message: str


class ValidationIssue(BaseModel):
    """One failed check of the request, with where it failed."""

    location: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details with a stable machine-readable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[ValidationIssue] | None = None
