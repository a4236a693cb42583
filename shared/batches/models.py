"""The requeue batch as it is stored and answered: its selection, status, counts and progress.

A batch is one item (``schema.requeue_batch_key``). The API writes it ``pending`` with its selection; the runner
moves it to ``running``, adds each page's counts together with its progress (so a retried page is never counted
twice), and ends it ``completed``, ``cancelled`` or ``failed``.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.access import ScopeKind

MAX_WORKSPACES = 100
MAX_EXPLICIT_IDS = 1_000
MAX_JOBS = 100_000
# The skip reason codes a selection may name; a job's reason matches on its part before ``:``.
SKIP_REASON_CODES = ("duration_below_minimum", "rate_limit", "skip_all_on_ingest")


class BatchStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINISHED = frozenset({BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.FAILED})


class BatchSelection(BaseModel):
    """Which skipped jobs a batch takes: a query over its workspaces, or explicit job or source ids."""

    model_config = ConfigDict(extra="forbid")

    workspace_ids: list[str]
    skip_reasons: list[str] | None = None
    skipped_after: str | None = None
    skipped_before: str | None = None
    job_ids: list[str] | None = None
    source_ids: list[str] | None = None
    only_passing: bool = True
    max_jobs: int = MAX_JOBS


class BatchCounts(BaseModel):
    """``matched`` skipped jobs selected; of those, ``would_pass``/``would_skip`` the filters as they are now;
    ``requeued`` by this batch; ``not_skipped_anymore`` when reached; ``failed`` (unknown or unreachable ids)."""

    matched: int = 0
    requeued: int = 0
    would_pass: int = 0
    would_skip: int = 0
    not_skipped_anymore: int = 0
    failed: int = 0

    def plus(self, other: BatchCounts) -> BatchCounts:
        return BatchCounts(**{name: getattr(self, name) + getattr(other, name) for name in BatchCounts.model_fields})


class CreatedBy(BaseModel):
    scope: ScopeKind
    key_id: str


class PlannedPage(BaseModel):
    """A page chosen but not yet committed: the jobs it requeues, what choosing them counted, and where the next
    page starts. Written before the page's first job write, so a retried page redoes exactly this page."""

    jobs: dict[str, str] = Field(default_factory=dict)  # job id -> its workspace id, the jobs to requeue
    counts: BatchCounts = Field(default_factory=BatchCounts)
    max_jobs_per_second: int | None = None  # the partner's throttle setting when the page was chosen
    workspace_index: int = 0
    last_key: dict[str, Any] | None = None
    exhausted: bool = False


class BatchProgress(BaseModel):
    """Where the runner is: the workspace it reads, the page key to continue from, and pages done so far.

    ``pages`` is the version a page's write checks: a page counts only if ``pages`` is still what it read.
    ``planned`` is the page in flight (see ``PlannedPage``), ``None`` between pages.
    """

    workspace_index: int = 0
    last_key: dict[str, Any] | None = None
    pages: int = 0
    planned: PlannedPage | None = None


class RequeueBatch(BaseModel):
    """A stored batch. ``partner_id`` is the partner of its workspaces (a batch never spans partners);
    ``organization_ids`` the organizations of its workspaces (so an access check needs no tenant reads)."""

    model_config = ConfigDict(extra="ignore")

    batch_id: str
    partner_id: str
    organization_ids: list[str] = Field(default_factory=list)
    status: BatchStatus = BatchStatus.PENDING
    dry_run: bool = False
    selection: BatchSelection
    counts: BatchCounts = Field(default_factory=BatchCounts)
    created_at: str
    created_by: CreatedBy
    started_at: str | None = None
    finished_at: str | None = None
    cancel_requested_at: str | None = None
    progress: BatchProgress = Field(default_factory=BatchProgress)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def new_batch_id() -> str:
    return f"rb_{uuid.uuid4().hex}"


def reason_code(skipped_reason: str) -> str:
    """A skip reason without its figures: ``duration_below_minimum:12<30`` is ``duration_below_minimum``."""
    return skipped_reason.partition(":")[0]
