"""The runner's writes to a batch item: its pages (planned, then committed) and its end.

The item's stored form and the workspaces' locks are the batch store's (``shared.batches.store``).

Every page write is conditional on ``progress.pages`` being what the page read, so a page retried after its
first attempt committed changes nothing; the final status is written only while the batch is not finished.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared import schema
from shared.batches.models import FINISHED, BatchCounts, BatchProgress, BatchStatus, PlannedPage, RequeueBatch
from shared.batches.store import batch_from_item
from shared.batches.throttle import RequeueThrottle
from shared.dynamo import ConditionFailed, TableRepository, from_item, serialize, to_item

_UNFINISHED = (BatchStatus.PENDING.value, BatchStatus.RUNNING.value)


class StaleProgress(Exception):
    """Another attempt of the same page moved the batch on first (the page's write was refused)."""


class BatchRuns(TableRepository):
    """A batch's progress as the runner writes it."""

    def read(self, batch_id: str, partner_id: str) -> tuple[RequeueBatch | None, float | None]:
        """The batch and its partner's ``next_free_at`` (throttle) in one request."""
        keys = [schema.requeue_batch_key(batch_id), RequeueThrottle.key(partner_id)]
        request: dict[str, Any] = {self._table: {"Keys": [to_item(key) for key in keys], "ConsistentRead": True}}
        batch: RequeueBatch | None = None
        throttle: dict[str, Any] | None = None
        while request:
            response = self._db.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(self._table, []):
                if raw[schema.PARTITION_KEY]["S"] == keys[0][schema.PARTITION_KEY]:
                    batch = batch_from_item(raw)
                else:
                    throttle = from_item(raw)
            request = response.get("UnprocessedKeys") or {}
        return batch, RequeueThrottle.next_free_of(throttle)

    def get(self, batch_id: str) -> RequeueBatch | None:
        response = self._db.get_item(
            TableName=self._table, Key=to_item(schema.requeue_batch_key(batch_id)), ConsistentRead=True
        )
        return batch_from_item(response["Item"]) if "Item" in response else None

    def mark_running(self, batch: RequeueBatch, now: str) -> None:
        """``pending`` -> ``running`` with ``started_at`` (a page that first waits for its partner's time)."""
        self._update(
            batch,
            "SET #status = :running, started_at = if_not_exists(started_at, :now)",
            {":running": serialize(BatchStatus.RUNNING.value), ":now": serialize(now)},
        )

    def plan(self, batch: RequeueBatch, planned: PlannedPage, now: str) -> None:
        """Record the page about to be requeued, before any of its jobs is written."""
        self._update(
            batch,
            "SET #status = :running, started_at = if_not_exists(started_at, :now), progress.planned = :planned",
            {
                ":running": serialize(BatchStatus.RUNNING.value),
                ":now": serialize(now),
                ":planned": serialize(planned.model_dump(mode="json", exclude_none=True)),
            },
        )

    def commit(self, batch: RequeueBatch, counts: BatchCounts, progress: BatchProgress, now: str) -> None:
        """Add one page's counts and move the progress on, in one write (``StaleProgress`` if already done)."""
        values: dict[str, Any] = {
            ":running": serialize(BatchStatus.RUNNING.value),
            ":now": serialize(now),
            ":progress": serialize(progress.model_dump(mode="json", exclude_none=True)),
        }
        additions = []
        for name in BatchCounts.model_fields:
            values[f":{name}"] = serialize(getattr(counts, name))
            additions.append(f"counts.{name} = counts.{name} + :{name}")
        self._update(
            batch,
            "SET #status = :running, started_at = if_not_exists(started_at, :now), progress = :progress, "
            + ", ".join(additions),
            values,
        )

    def finish(self, batch_id: str, status: BatchStatus, now: str) -> RequeueBatch:
        """End the batch with ``status`` and ``finished_at``; a batch already finished is returned as it is."""
        try:
            written = self._conditional_update(
                schema.requeue_batch_key(batch_id),
                UpdateExpression="SET #status = :final, finished_at = :now REMOVE progress.planned",
                ConditionExpression="#status IN (:pending, :running)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":final": serialize(status.value),
                    ":now": serialize(now),
                    ":pending": serialize(_UNFINISHED[0]),
                    ":running": serialize(_UNFINISHED[1]),
                },
            )
        except ConditionFailed as refused:
            if refused.item is None:
                raise LookupError(f"requeue batch {batch_id} does not exist") from None
            finished = batch_from_item(refused.item)
            if finished.status not in FINISHED:
                raise
            return finished  # a retried finish: the first attempt ended it
        return batch_from_item(written)

    def _update(self, batch: RequeueBatch, expression: str, values: dict[str, Any]) -> None:
        values = {**values, ":pages": serialize(batch.progress.pages)}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=to_item(schema.requeue_batch_key(batch.batch_id)),
                UpdateExpression=expression,
                ConditionExpression="progress.pages = :pages",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise StaleProgress(f"requeue batch {batch.batch_id} moved past page {batch.progress.pages}") from None
