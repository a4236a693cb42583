"""The requeue batch routes' bodies: the public contract, apart from the stored batch (``shared.batches.models``).

A batch is answered as this module's ``RequeueBatch``, mapped field by field from the stored one: the runner's
progress, the partner and the lock never reach a client.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Literal, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from shared.access import ScopeKind
from shared.batches import models as stored
from shared.batches.models import MAX_EXPLICIT_IDS, MAX_JOBS, MAX_WORKSPACES, BatchStatus
from shared.batches.service import BatchRequest
from shared.clock import format_timestamp

# RFC 3339 section 5.6 date-time: a full date, a time with seconds, and an offset.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def _timestamp(value: str) -> str:
    """An RFC 3339 date-time, as the product writes timestamps (UTC, milliseconds: compared with ``skipped_at``)."""
    match = _RFC3339.fullmatch(value)
    if not match:
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-11-30T00:00:00Z")
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    microsecond = int((match.group(7) or "0")[:6].ljust(6, "0"))
    minutes = 0 if match.group(8) else int(match.group(10)) * 60 + int(match.group(11))
    offset = timezone(timedelta(minutes=-minutes if match.group(9) == "-" else minutes))
    try:
        # A leap second (:60) is read as the second before it: timestamps here have no leap seconds.
        moment = datetime(year, month, day, hour, minute, min(second, 59), microsecond, tzinfo=offset)
        return format_timestamp(moment.astimezone(UTC))
    except (ValueError, OverflowError):
        raise ValueError("must be an RFC 3339 date-time that exists, e.g. 2026-11-30T00:00:00Z") from None


_Item = TypeVar("_Item")


def _unique(values: list[_Item] | None) -> list[_Item] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


WorkspaceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
JobId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
SourceId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
SkipReasonCode = Literal["duration_below_minimum", "rate_limit", "skip_all_on_ingest"]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"}), AfterValidator(_timestamp)]
_UNIQUE: JsonDict = {"uniqueItems": True}


class CreateRequeueBatch(BaseModel):
    """Body of ``POST /api/v1/requeue-batches``: which skipped jobs to requeue. Every field is optional."""

    model_config = ConfigDict(extra="forbid")

    workspace_ids: Annotated[list[WorkspaceId], AfterValidator(_unique)] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_WORKSPACES,
        json_schema_extra=_UNIQUE,
        description="The workspaces whose skipped jobs to requeue (a workspace key may omit it: its own).",
    )
    skip_reasons: Annotated[list[SkipReasonCode], AfterValidator(_unique)] | None = Field(
        default=None,
        min_length=1,
        json_schema_extra=_UNIQUE,
        description="Only jobs skipped for these reasons (the part of `skipped_reason` before `:`).",
    )
    skipped_after: Timestamp | None = Field(default=None, description="Only jobs skipped at or after this time.")
    skipped_before: Timestamp | None = Field(default=None, description="Only jobs skipped before this time.")
    job_ids: Annotated[list[JobId], AfterValidator(_unique)] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EXPLICIT_IDS,
        json_schema_extra=_UNIQUE,
        description="These jobs instead of a query (not with `source_ids`, `skip_reasons` or the time window).",
    )
    source_ids: Annotated[list[SourceId], AfterValidator(_unique)] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EXPLICIT_IDS,
        json_schema_extra=_UNIQUE,
        description="The jobs of these CallRail call ids instead of a query (not with `job_ids` or the query).",
    )
    only_passing: bool = Field(
        default=True, description="Requeue only the jobs that pass the workspace's filters as they are now."
    )
    max_jobs: int = Field(default=MAX_JOBS, ge=1, le=MAX_JOBS, description="At most this many jobs.")
    dry_run: bool = Field(default=False, description="Count what the batch would do; change nothing.")

    @model_validator(mode="after")
    def _one_selection(self) -> Self:
        explicit = [name for name in ("job_ids", "source_ids") if getattr(self, name) is not None]
        query = [
            name for name in ("skip_reasons", "skipped_after", "skipped_before") if getattr(self, name) is not None
        ]
        if len(explicit) > 1:
            raise ValueError("job_ids and source_ids cannot be combined: name jobs one way")
        if explicit and query:
            raise ValueError(f"{explicit[0]} cannot be combined with {', '.join(query)}: name jobs or query them")
        if self.skipped_after and self.skipped_before and self.skipped_after >= self.skipped_before:
            raise ValueError("skipped_after must be earlier than skipped_before")
        return self

    def request(self) -> BatchRequest:
        """The batch as the domain takes it."""
        return BatchRequest.model_validate(self.model_dump())


class BatchSelection(BaseModel):
    """What the batch selects: its workspaces and either a query or explicit ids."""

    workspace_ids: list[str]
    skip_reasons: list[str] | None
    skipped_after: str | None
    skipped_before: str | None
    job_ids: list[str] | None
    source_ids: list[str] | None
    only_passing: bool
    max_jobs: int


class BatchCounts(BaseModel):
    """``matched`` skipped jobs selected; of those, ``would_pass``/``would_skip`` the filters as they are now;
    ``requeued`` by this batch; ``not_skipped_anymore`` when reached; ``failed`` (unknown or unreachable ids)."""

    matched: int
    requeued: int
    would_pass: int
    would_skip: int
    not_skipped_anymore: int
    failed: int


class BatchCreator(BaseModel):
    """The API key that created the batch."""

    scope: ScopeKind
    key_id: str


class RequeueBatch(BaseModel):
    """A requeue batch: what it selects, where it is, and what it has done so far."""

    batch_id: str = Field(examples=["rb_4f1c2a9d0b7e4c3f8a6d5e2b1c0f9a8e"])
    status: BatchStatus
    dry_run: bool
    selection: BatchSelection
    counts: BatchCounts
    created_at: str
    created_by: BatchCreator
    started_at: str | None
    finished_at: str | None

    @classmethod
    def of(cls, batch: stored.RequeueBatch) -> RequeueBatch:
        """The public view of a stored batch."""
        selection = batch.selection
        counts = batch.counts
        return cls(
            batch_id=batch.batch_id,
            status=batch.status,
            dry_run=batch.dry_run,
            selection=BatchSelection(
                workspace_ids=list(selection.workspace_ids),
                skip_reasons=selection.skip_reasons,
                skipped_after=selection.skipped_after,
                skipped_before=selection.skipped_before,
                job_ids=selection.job_ids,
                source_ids=selection.source_ids,
                only_passing=selection.only_passing,
                max_jobs=selection.max_jobs,
            ),
            counts=BatchCounts(
                matched=counts.matched,
                requeued=counts.requeued,
                would_pass=counts.would_pass,
                would_skip=counts.would_skip,
                not_skipped_anymore=counts.not_skipped_anymore,
                failed=counts.failed,
            ),
            created_at=batch.created_at,
            created_by=BatchCreator(scope=batch.created_by.scope, key_id=batch.created_by.key_id),
            started_at=batch.started_at,
            finished_at=batch.finished_at,
        )


class RequeueBatchList(BaseModel):
    batches: list[RequeueBatch]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")
