"""The jobs a requeue batch selects, one page at a time.

A query selection walks its workspaces in order, each through ``BY_WORKSPACE_STATUS`` (its skipped jobs, newest
first) with the reasons and the ``skipped_at`` window as a filter, continuing from the page key kept in the
batch's progress: a position in the index, so jobs that left it (requeued) or came back to it (skipped again,
at their old place) never shift what the next page reads. An explicit selection (``job_ids`` or ``source_ids``)
reads its ids in slices by key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared import schema
from shared.batches.models import BatchCounts, BatchSelection
from shared.clock import format_timestamp, parse_timestamp
from shared.dynamo import TableRepository, from_item, serialize, to_item
from shared.ingest.jobs import SOURCE
from shared.jobs.models import JobStatus

PAGE_SIZE = 100  # jobs per page: one Query (or BatchGetItem) and at most this many requeues
_JOB_ATTRIBUTES = ("job_id", "workspace_id", "organization_id", "partner_id", "status", "duration_seconds")
_BATCH_GET_ATTEMPTS = 5


@dataclass
class SelectedPage:
    """The skipped jobs of one page (plain attributes), what reading them counted, and where the next page starts.

    ``counts`` holds ``failed`` (ids that are unknown or outside the batch's workspaces) and
    ``not_skipped_anymore`` (explicit ids of jobs that are not skipped) for explicit selections.
    """

    jobs: list[dict[str, Any]]
    workspace_index: int
    last_key: dict[str, Any] | None
    exhausted: bool
    counts: BatchCounts = field(default_factory=BatchCounts)


def is_explicit(selection: BatchSelection) -> bool:
    return selection.job_ids is not None or selection.source_ids is not None


class BatchSelector(TableRepository):
    """Reads the next page of a selection."""

    def next_page(
        self, selection: BatchSelection, workspace_index: int, last_key: dict[str, Any] | None, matched: int
    ) -> SelectedPage:
        """The page after ``last_key`` (in workspace ``workspace_index``), with no more than the ``max_jobs`` the
        selection still allows after ``matched``."""
        remaining = selection.max_jobs - matched
        if remaining <= 0:
            return SelectedPage(jobs=[], workspace_index=workspace_index, last_key=last_key, exhausted=True)
        if is_explicit(selection):
            return self._explicit_page(selection, last_key, min(PAGE_SIZE, remaining))
        return self._query_page(selection, workspace_index, last_key, min(PAGE_SIZE, remaining))

    def _query_page(
        self, selection: BatchSelection, index: int, last_key: dict[str, Any] | None, limit: int
    ) -> SelectedPage:
        if index >= len(selection.workspace_ids):
            return SelectedPage(jobs=[], workspace_index=index, last_key=None, exhausted=True)
        names = {"#status": "status", **{f"#a{i}": name for i, name in enumerate(_JOB_ATTRIBUTES)}}
        values: dict[str, Any] = {
            ":workspace": serialize(selection.workspace_ids[index]),
            ":skipped": serialize(JobStatus.SKIPPED.value),
        }
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": schema.BY_WORKSPACE_STATUS.name,
            "KeyConditionExpression": "workspace_id = :workspace AND #status = :skipped",
            "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(_JOB_ATTRIBUTES))),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        conditions = _filters(selection, names, values)
        if conditions:
            request["FilterExpression"] = " AND ".join(conditions)
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = values
        if last_key:
            request["ExclusiveStartKey"] = to_item(last_key)
        response = self._db.query(**request)
        jobs = [from_item(item) for item in response.get("Items", [])]
        after = response.get("LastEvaluatedKey")
        if after:
            return SelectedPage(jobs=jobs, workspace_index=index, last_key=from_item(after), exhausted=False)
        # This workspace is done: the next page starts at the next one.
        done = index + 1 >= len(selection.workspace_ids)
        return SelectedPage(jobs=jobs, workspace_index=index + 1, last_key=None, exhausted=done)

    def _explicit_page(self, selection: BatchSelection, last_key: dict[str, Any] | None, limit: int) -> SelectedPage:
        ids = selection.job_ids if selection.job_ids is not None else selection.source_ids or []
        offset = int((last_key or {}).get("offset", 0))
        chunk = ids[offset : offset + limit]
        if selection.job_ids is not None:
            job_ids: dict[str, str | None] = {job_id: job_id for job_id in chunk}
        else:
            calls = self._get_many([schema.source_call_key(SOURCE, source_id) for source_id in chunk], ("job_id",))
            by_source = {item[schema.PARTITION_KEY]: item.get("job_id") for item in calls}
            job_ids = {
                source_id: by_source.get(schema.source_call_key(SOURCE, source_id)[schema.PARTITION_KEY])
                for source_id in chunk
            }
        found = {
            str(item["job_id"]): item
            for item in self._get_many(
                [schema.job_key(job_id) for job_id in job_ids.values() if job_id], _JOB_ATTRIBUTES
            )
        }
        counts = BatchCounts()
        jobs = []
        workspaces = set(selection.workspace_ids)
        for job_id in job_ids.values():
            job = found.get(job_id) if job_id else None
            if job is None or job.get("workspace_id") not in workspaces:
                counts.failed += 1
            elif job.get("status") != JobStatus.SKIPPED.value:
                counts.not_skipped_anymore += 1
            else:
                jobs.append(job)
        end = offset + len(chunk)
        return SelectedPage(
            jobs=jobs,
            workspace_index=0,
            last_key={"offset": end},
            exhausted=end >= len(ids) or not chunk,
            counts=counts,
        )

    def _get_many(self, keys: list[dict[str, str]], attributes: tuple[str, ...]) -> list[dict[str, Any]]:
        """Items by key (at most 100), retrying what DynamoDB leaves unprocessed."""
        if not keys:
            return []
        names = {f"#a{i}": name for i, name in enumerate((schema.PARTITION_KEY, *attributes))}
        request: dict[str, Any] = {
            self._table: {
                "Keys": [to_item(key) for key in keys],
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        }
        items: list[dict[str, Any]] = []
        for _ in range(_BATCH_GET_ATTEMPTS):
            response = self._db.batch_get_item(RequestItems=request)
            items.extend(from_item(item) for item in response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise RuntimeError("DynamoDB left keys unprocessed after several attempts")


def _filters(selection: BatchSelection, names: dict[str, str], values: dict[str, Any]) -> list[str]:
    """The query's filter: any of the reasons (a reason matches on its part before ``:``) and the window."""
    conditions = []
    if selection.skip_reasons:
        names["#reason"] = "skipped_reason"
        either = []
        for i, code in enumerate(selection.skip_reasons):
            values[f":r{i}"] = serialize(code)
            values[f":rp{i}"] = serialize(f"{code}:")
            either.append(f"#reason = :r{i} OR begins_with(#reason, :rp{i})")
        conditions.append("(" + " OR ".join(either) + ")")
    if selection.skipped_after or selection.skipped_before:
        names["#skipped_at"] = "skipped_at"
    if selection.skipped_after:
        values[":after"] = serialize(stored_timestamp(selection.skipped_after))
        conditions.append("#skipped_at >= :after")  # at or after, as the API documents it
    if selection.skipped_before:
        values[":before"] = serialize(stored_timestamp(selection.skipped_before))
        conditions.append("#skipped_at < :before")
    return conditions


def stored_timestamp(value: str) -> str:
    """An RFC 3339 date-time in the table's one timestamp format, so that strings compare as times."""
    return format_timestamp(parse_timestamp(value))
