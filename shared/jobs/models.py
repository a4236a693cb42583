"""The job domain model, its statuses, the allowed transitions and the skip reasons."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobStatus(StrEnum):
    QUEUED = "queued"
    TRANSCRIBING = "transcribing"
    ANALYZING = "analyzing"
    PUBLISHING = "publishing"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"


# Every status change a job may make. A requeue is the only way out of ``skipped``.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.TRANSCRIBING, JobStatus.SKIPPED, JobStatus.FAILED}),
    JobStatus.TRANSCRIBING: frozenset({JobStatus.ANALYZING, JobStatus.FAILED}),
    JobStatus.ANALYZING: frozenset({JobStatus.PUBLISHING, JobStatus.FAILED}),
    JobStatus.PUBLISHING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.SKIPPED: frozenset({JobStatus.QUEUED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[current]


class SkipReason:
    """The spec's skip reasons, word for word."""

    SKIP_ALL_ON_INGEST = "skip_all_on_ingest"
    RATE_LIMIT = "rate_limit"

    @staticmethod
    def duration_below_minimum(actual: int, minimum: int) -> str:
        return f"duration_below_minimum:{actual}<{minimum}"


# The fields the spec records in ``source_metadata`` on each requeue.
REQUEUE_METADATA_FIELDS = (
    "requeue_count",
    "last_requeued_at",
    "last_requeued_by",
    "previous_skipped_reason",
    "previous_skipped_at",
)


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

    model_config = ConfigDict(extra="ignore")

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

    @property
    def requeue_count(self) -> int:
        return int(self.source_metadata.get("requeue_count", 0))


@dataclass(frozen=True)
class JobPage:
    """One page of a job listing and the key to continue from (``None`` on the last page)."""

    jobs: list[Job]
    last_key: dict[str, Any] | None


def requeue_message(requeue_count: int) -> str:
    """The spec's response message for a successful requeue."""
    return (
        f"Job requeued successfully (requeue #{requeue_count}). "
        "Job will be re-validated against current processing filters."
    )
