"""Idempotent creation of a job from a CallRail call, with the day limits counted in the same transaction.

One ``TransactWriteItems`` writes the dedupe item ``SOURCE#callrail#{call id}``, the job, and (for a job created
``queued``) increments the workspace's and the partner's day counters under ``count < limit``. Either all of it
happens or none: a replayed call creates nothing, and a call that would pass a limit is created ``skipped`` with
``rate_limit`` without being counted, however many pollers race for the last slot.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from shared import schema
from shared.callrail.client import CallRecord
from shared.clock import format_timestamp
from shared.config.model import CallRailIntegration
from shared.dynamo import TableRepository, serialize, to_item
from shared.jobs.ids import new_job_id
from shared.jobs.models import Job, JobEvent, JobStatus, SkipReason
from shared.jobs.repository import job_item
from shared.tenants.registry import Workspace

SOURCE = "callrail"
# Day counters expire on their own (the table's TTL attribute, epoch seconds).
COUNTER_TTL_ATTRIBUTE = schema.TTL_ATTRIBUTE
COUNTER_RETENTION = timedelta(days=3)
BATCH_GET_LIMIT = 100  # keys per BatchGetItem

_ATTEMPTS = 8  # id collisions, one downgrade to rate_limit, and a few transaction conflicts
_CONFLICT_BACKOFF_SECONDS = 0.05
_DEDUPE, _JOB, _WORKSPACE_COUNTER, _PARTNER_COUNTER = range(4)
_CONDITION_FAILED = "ConditionalCheckFailed"
_CONFLICT = "TransactionConflict"


class IngestOutcome(StrEnum):
    QUEUED = "queued"
    SKIPPED_ALL = "skipped_all"
    RATE_LIMITED = "rate_limited"
    DUPLICATE = "duplicate"


class CounterScope(StrEnum):
    WORKSPACE = "workspace"
    PARTNER = "partner"


class IngestConflict(Exception):
    """The transaction kept being cancelled by concurrent writers; the poll stops and is retried."""


def counter_day(moment: datetime) -> str:
    """The UTC day a call is counted on (the day it is ingested)."""
    return moment.astimezone(UTC).date().isoformat()


def day_counter_key(scope: CounterScope, tenant_id: str, day: str) -> dict[str, str]:
    """A day counter of ingested calls."""
    return schema.day_counter_key("calls", scope.value, tenant_id, day)


def call_metadata(call: CallRecord, account_id: str) -> dict[str, Any]:
    """The job's ``source_metadata`` as the ingestion contract lists it (absent values are left out)."""
    metadata: dict[str, Any] = {
        "start_time": format_timestamp(call.start_time),
        "answered": call.answered,
        "direction": call.direction,
        "customer_phone_number": call.customer_phone_number,
        "tracking_phone_number": call.tracking_phone_number,
        "company_id": call.company_id,
        "recording_url": call.recording,
        "transcription": call.transcription or None,
        "callrail_account_id": account_id,
    }
    return {key: value for key, value in metadata.items() if value is not None}


def job_for_call(
    workspace: Workspace, call: CallRecord, account_id: str, now: datetime, skipped_reason: str | None
) -> Job:
    """The job of one call: ``queued``, or ``skipped`` with ``skipped_reason``."""
    stamp = format_timestamp(now)
    status = JobStatus.SKIPPED if skipped_reason else JobStatus.QUEUED
    cause = f"ingested from CallRail: {skipped_reason}" if skipped_reason else "ingested from CallRail"
    return Job(
        job_id=new_job_id(now),
        **workspace.path.model_dump(),
        status=status,
        skipped_reason=skipped_reason,
        skipped_at=stamp if skipped_reason else None,
        created_at=stamp,
        updated_at=stamp,
        source=SOURCE,
        source_id=call.id,
        duration_seconds=call.duration,
        source_metadata=call_metadata(call, account_id),
        history=[JobEvent(status=status, at=stamp, cause=cause)],
    )


class CallJobStore(TableRepository):
    """Jobs created from CallRail calls, their dedupe items and the day counters, in the single table."""

    def __init__(self, table_name: str, dynamodb: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(table_name, dynamodb)
        self._sleep = sleep

    def already_ingested(self, call_ids: Iterable[str]) -> set[str]:
        """The ids among ``call_ids`` (at most 100) that have a job already: one eventually consistent read.

        A miss here is only a hint; the transaction's dedupe condition is what keeps a call from being stored twice.
        """
        ids = list(dict.fromkeys(call_ids))
        if not ids:
            return set()
        if len(ids) > BATCH_GET_LIMIT:
            raise ValueError(f"at most {BATCH_GET_LIMIT} call ids per lookup")
        response = self._db.batch_get_item(
            RequestItems={
                self._table: {
                    "Keys": [to_item(schema.source_call_key(SOURCE, call_id)) for call_id in ids],
                    "ProjectionExpression": "#pk",
                    "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                }
            }
        )
        prefix = schema.source_call_key(SOURCE, "")[schema.PARTITION_KEY]
        return {
            item[schema.PARTITION_KEY]["S"].removeprefix(prefix)
            for item in response.get("Responses", {}).get(self._table, [])
        }

    def create_from_call(
        self,
        workspace: Workspace,
        call: CallRecord,
        integration: CallRailIntegration,
        now: datetime,
        *,
        limit_reached: bool = False,
    ) -> IngestOutcome:
        """Create the call's job once, ``queued`` within today's limits, else ``skipped`` with the spec's reason.

        ``limit_reached``: the caller saw a limit reached today already; counters only grow within a day, so the
        job is created ``skipped`` / ``rate_limit`` without trying them.
        """
        account_id = integration.account_id or ""
        if integration.skip_all_on_ingest:
            outcome = IngestOutcome.SKIPPED_ALL
        elif limit_reached or min(integration.max_calls_per_workspace, integration.max_total_calls) <= 0:
            # A limit of 0 cannot be expressed as ``count < limit`` on a counter that does not exist yet.
            outcome = IngestOutcome.RATE_LIMITED
        else:
            outcome = IngestOutcome.QUEUED
        job = job_for_call(workspace, call, account_id, now, _SKIP_REASON.get(outcome))
        conflicts = 0
        for _ in range(_ATTEMPTS):
            try:
                self._db.transact_write_items(TransactItems=self._transaction(job, outcome, integration, now))
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                codes = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
                if len(codes) <= _JOB:
                    raise
                if codes[_DEDUPE] == _CONDITION_FAILED:
                    return IngestOutcome.DUPLICATE
                if _CONFLICT in codes:
                    conflicts += 1
                    self._sleep(_CONFLICT_BACKOFF_SECONDS * 2**conflicts * (1 + random.random()))  # noqa: S311
                    continue
                counter_failed = _CONDITION_FAILED in codes[_WORKSPACE_COUNTER:]
                if codes[_JOB] != _CONDITION_FAILED and not counter_failed:
                    raise
                if counter_failed:
                    outcome = IngestOutcome.RATE_LIMITED
                # A new id for a collision; a fresh job in any case, since the reason may have changed.
                job = job_for_call(workspace, call, account_id, now, _SKIP_REASON.get(outcome))
                continue
            return outcome
        raise IngestConflict(f"call {call.id}: the job could not be written after {_ATTEMPTS} attempts")

    def _transaction(
        self, job: Job, outcome: IngestOutcome, integration: CallRailIntegration, now: datetime
    ) -> list[dict[str, Any]]:
        created = {"#pk": schema.PARTITION_KEY}
        dedupe = {
            **schema.source_call_key(SOURCE, job.source_id or ""),
            "entity": schema.Entity.SOURCE_CALL,
            "job_id": job.job_id,
            "created_at": job.created_at,
        }
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(dedupe),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": created,
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": job_item(job),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": created,
                }
            },
        ]
        if outcome is IngestOutcome.QUEUED:
            day = counter_day(now)
            expires = datetime.fromisoformat(day).replace(tzinfo=UTC) + COUNTER_RETENTION
            limits = (
                (CounterScope.WORKSPACE, job.workspace_id, integration.max_calls_per_workspace),
                # The partner's own cap: no organization or workspace document may set it (merge_levels).
                (CounterScope.PARTNER, job.partner_id, integration.max_total_calls),
            )
            items += [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_item(day_counter_key(scope, tenant_id, day)),
                        "UpdateExpression": "SET #count = if_not_exists(#count, :zero) + :one, #expires = :expires",
                        "ConditionExpression": "attribute_not_exists(#count) OR #count < :limit",
                        "ExpressionAttributeNames": {"#count": "count", "#expires": COUNTER_TTL_ATTRIBUTE},
                        "ExpressionAttributeValues": {
                            ":zero": serialize(0),
                            ":one": serialize(1),
                            ":limit": serialize(limit),
                            ":expires": serialize(int(expires.timestamp())),
                        },
                    }
                }
                for scope, tenant_id, limit in limits
            ]
        return items


_SKIP_REASON = {
    IngestOutcome.SKIPPED_ALL: SkipReason.SKIP_ALL_ON_INGEST,
    IngestOutcome.RATE_LIMITED: SkipReason.RATE_LIMIT,
}
