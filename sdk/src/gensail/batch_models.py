"""Bodies of the requeue batch routes: what a batch selects, its counts, and the batch as the API answers it.

A batch requeues many skipped jobs on the server, throttled, with progress and cancel. Unknown fields in an answer
are ignored, so a newer API does not break an older client; a test compares these models with the OpenAPI
document field by field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

SkipReasonCode = Literal["duration_below_minimum", "rate_limit", "skip_all_on_ingest"]
SKIP_REASON_CODES: tuple[SkipReasonCode, ...] = ("duration_below_minimum", "rate_limit", "skip_all_on_ingest")


class BatchStatus(StrEnum):
    """Where a batch is: ``pending`` until its first page, ``running``, then one of the finished three."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINISHED_STATUSES = frozenset({BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.FAILED})


class CreateRequeueBatch(BaseModel):
    """Body of ``POST /api/v1/requeue-batches``: which skipped jobs to requeue (every field optional).

    Either a query (``skip_reasons``, ``skipped_after``, ``skipped_before``) or explicit ``job_ids`` or
    ``source_ids``, never both. A workspace key may leave out ``workspace_ids``.
    """

    model_config = ConfigDict(extra="forbid")

    workspace_ids: list[str] | None = None
    skip_reasons: list[SkipReasonCode] | None = None
    skipped_after: str | None = None
    skipped_before: str | None = None
    job_ids: list[str] | None = None
    source_ids: list[str] | None = None
    only_passing: bool = True
    max_jobs: int = 100_000
    dry_run: bool = False


class BatchSelection(BaseModel):
    """The skipped jobs a batch takes, as the API stored them (its workspaces always named; unused fields null)."""

    workspace_ids: list[str]
    skip_reasons: list[str] | None
    skipped_after: str | None
    skipped_before: str | None
    job_ids: list[str] | None
    source_ids: list[str] | None
    only_passing: bool
    max_jobs: int


class BatchCounts(BaseModel):
    """``matched``: skipped jobs selected so far; of those ``would_pass``/``would_skip`` the filters as they are
    now; ``requeued`` by this batch; ``not_skipped_anymore`` when reached; ``failed``: unknown or unreachable ids."""

    matched: int
    requeued: int
    would_pass: int
    would_skip: int
    not_skipped_anymore: int
    failed: int


class BatchCreator(BaseModel):
    """The key that created a batch: its scope and id."""

    scope: Literal["workspace", "organization", "partner"]
    key_id: str


class RequeueBatch(BaseModel):
    """A requeue batch: its selection, status and counts so far (``started_at``, ``finished_at`` null until then)."""

    batch_id: str
    status: BatchStatus
    dry_run: bool
    selection: BatchSelection
    counts: BatchCounts
    created_at: str
    created_by: BatchCreator
    started_at: str | None
    finished_at: str | None

    @property
    def finished(self) -> bool:
        """Whether the batch has ended (``completed``, ``cancelled`` or ``failed``): its counts are final."""
        return self.status in FINISHED_STATUSES


class RequeueBatchList(BaseModel):
    """One page of batches, newest first."""

    batches: list[RequeueBatch]
    next_cursor: str | None
