"""The requeue batch calls and the job lookup, built once for both clients: their routes and requests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gensail._core import Operation, PageSpec, Route, model_parser, query
from gensail.batch_models import CreateRequeueBatch, RequeueBatch, RequeueBatchList, SkipReasonCode
from gensail.errors import WaitTimeout
from gensail.models import Job

JSON = "application/json"
IDEMPOTENCY_HEADER = "Idempotency-Key"

LOOKUP_JOB = Route("GET", "/api/v1/jobs/lookup", Job)
CREATE_BATCH = Route("POST", "/api/v1/requeue-batches", RequeueBatch, CreateRequeueBatch, status=202)
GET_BATCH = Route("GET", "/api/v1/requeue-batches/{batch_id}", RequeueBatch)
LIST_BATCHES = Route("GET", "/api/v1/requeue-batches", RequeueBatchList)
CANCEL_BATCH = Route("POST", "/api/v1/requeue-batches/{batch_id}/cancel", RequeueBatch, status=202)

BATCH_ROUTES = (LOOKUP_JOB, CREATE_BATCH, GET_BATCH, LIST_BATCHES, CANCEL_BATCH)


def lookup_job(source_id: str, source: str) -> Operation[Job]:
    params = query(source=source, source_id=source_id)
    return Operation(LOOKUP_JOB.method, LOOKUP_JOB.url(), model_parser(Job), params=params)


def new_idempotency_key() -> str:
    """A key for one create: random, so that only the retries of that one call share it."""
    return str(uuid.uuid4())


def _moment(value: datetime | str | None) -> str | None:
    """An RFC 3339 date-time: a string as it is, or an aware ``datetime`` (a naive one names no moment)."""
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone: pass an aware datetime, e.g. with tzinfo=UTC")
    return value.isoformat()


def _names(values: Sequence[str] | str | None) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


def create_batch(
    *,
    workspace_ids: Sequence[str] | str | None,
    skip_reasons: Sequence[SkipReasonCode] | None,
    skipped_after: datetime | str | None,
    skipped_before: datetime | str | None,
    job_ids: Sequence[str] | None,
    source_ids: Sequence[str] | None,
    only_passing: bool,
    max_jobs: int | None,
    dry_run: bool,
    idempotency_key: str | None,
) -> Operation[RequeueBatch]:
    """The POST of a new batch; every attempt of it (the client's retries) carries the same ``Idempotency-Key``."""
    chosen = {
        "workspace_ids": _names(workspace_ids),
        "skip_reasons": list(skip_reasons) if skip_reasons is not None else None,
        "skipped_after": _moment(skipped_after),
        "skipped_before": _moment(skipped_before),
        "job_ids": _names(job_ids),
        "source_ids": _names(source_ids),
        "max_jobs": max_jobs,
    }
    # Only what the caller chose is sent; the API applies its own defaults to the rest.
    fields = CreateRequeueBatch.model_validate(
        {name: value for name, value in chosen.items() if value is not None}
        | {"only_passing": only_passing, "dry_run": dry_run}
    )
    body = fields.model_dump_json(exclude_unset=True).encode()
    headers = {"Content-Type": JSON, IDEMPOTENCY_HEADER: idempotency_key or new_idempotency_key()}
    return Operation(CREATE_BATCH.method, CREATE_BATCH.url(), model_parser(RequeueBatch), content=body, headers=headers)


def batch_id_of(batch: RequeueBatch | str) -> str:
    return batch if isinstance(batch, str) else batch.batch_id


def get_batch(batch: RequeueBatch | str) -> Operation[RequeueBatch]:
    return Operation(GET_BATCH.method, GET_BATCH.url(batch_id=batch_id_of(batch)), model_parser(RequeueBatch))


def cancel_batch(batch: RequeueBatch | str) -> Operation[RequeueBatch]:
    path = CANCEL_BATCH.url(batch_id=batch_id_of(batch))
    return Operation(CANCEL_BATCH.method, path, model_parser(RequeueBatch))


def list_batches(workspace_id: str | None, limit: int | None) -> PageSpec[RequeueBatchList, RequeueBatch]:
    def page(cursor: str | None) -> Operation[RequeueBatchList]:
        params = query(workspace_id=workspace_id, limit=limit, cursor=cursor)
        return Operation(LIST_BATCHES.method, LIST_BATCHES.url(), model_parser(RequeueBatchList), params=params)

    return PageSpec(page=page, items=lambda listing: listing.batches, next_cursor=lambda listing: listing.next_cursor)


@dataclass
class BatchWait:
    """One ``wait``: after each read of the batch, how long to sleep before the next, within its timeout."""

    poll_interval: float
    timeout: float | None
    started: float
    slept: float = 0.0

    def next_poll(self, batch: RequeueBatch, now: float) -> float | None:
        """``None`` when the batch has finished; the wait before the next read; ``WaitTimeout`` past the timeout."""
        if batch.finished:
            return None
        elapsed = max(now - self.started, self.slept)
        if self.timeout is not None and elapsed + self.poll_interval > self.timeout:
            raise WaitTimeout(
                f"Batch {batch.batch_id} is still {batch.status.value} after {elapsed:.1f} s.", batch=batch
            )
        self.slept += self.poll_interval
        return self.poll_interval
