"""The API's request and response bodies (the job model itself is the domain's ``Job``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.jobs.models import Job, JobStatus


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
