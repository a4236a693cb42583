"""Requeue batches in the single table: the batch item, its member items, and the workspace locks.

Creating a batch (see docs/architecture.md, "Requeue batches"):

1. one ``TransactWriteItems`` takes the lock of every workspace (at most 100 puts, all or none);
2. the member items (one per workspace, what the list route reads through ``BY_WORKSPACE``) are written;
3. the batch item is put, in one transaction with a check that the batch was not abandoned: this is the commit.

Only the batch item's ``INSERT`` starts the runner, so a creation that stops before step 3 never runs. Its locks
name a batch that does not exist; after ``LOCK_TAKEOVER_SECONDS`` the next creation on that workspace marks the
batch abandoned (``BATCH#{id}/ABANDONED``, in the same transaction that deletes the lock, on condition that the
batch item still does not exist), which also makes a late step 3 fail. Its member items are never listed: the
list shows only batches whose item exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from shared import schema
from shared.batches.models import BatchStatus, RequeueBatch
from shared.dynamo import ConditionFailed, TableRepository, from_item, serialize, to_item
from shared.errors import BatchCreationAbandoned, BatchFinished, BatchInProgress, BatchNotFound

# A lock whose batch item does not exist yet is a creation in progress for this long (the API function's timeout
# is far shorter); after it, the creation is taken to have crashed and its locks may be taken over.
LOCK_TAKEOVER_SECONDS = 60
# How long an abandoned batch's marker is kept: far beyond any creation that could still try to commit it.
ABANDONED_MARKER_SECONDS = 7 * 24 * 3600
_LOCK_ATTEMPTS = 5
_BATCH_WRITE_SIZE = 25
_BATCH_GET_SIZE = 100
_UNPROCESSED_RETRIES = 8
_INTERNAL_ATTRIBUTES = frozenset({schema.PARTITION_KEY, schema.SORT_KEY, "entity"})


def batch_from_item(item: dict[str, Any]) -> RequeueBatch:
    plain = from_item(item)
    return RequeueBatch.model_validate({k: v for k, v in plain.items() if k not in _INTERNAL_ATTRIBUTES})


def batch_item(batch: RequeueBatch) -> dict[str, Any]:
    """The stored batch item. It has no ``workspace_id``, so it is in no workspace index (its members are)."""
    return to_item(
        {
            **schema.requeue_batch_key(batch.batch_id),
            "entity": schema.Entity.REQUEUE_BATCH,
            **batch.model_dump(mode="json", exclude_none=True),
        }
    )


def abandoned_key(batch_id: str) -> dict[str, str]:
    """The marker of a batch whose creation was abandoned (its locks taken over): it can never be committed."""
    return {**schema.requeue_batch_key(batch_id), schema.SORT_KEY: "ABANDONED"}


class BatchPage:
    """One page of a workspace's batches, newest first, and where the next page starts (``None``: the last)."""

    def __init__(self, batches: list[RequeueBatch], last_key: dict[str, Any] | None) -> None:
        self.batches = batches
        self.last_key = last_key


class BatchStore(TableRepository):
    """Batch, member and lock items. ``clock`` gives epoch seconds (a test may pass a fake one)."""

    def __init__(self, table_name: str, dynamodb: Any, clock: Callable[[], float] = time.time) -> None:
        super().__init__(table_name, dynamodb)
        self._clock = clock

    # -- create -------------------------------------------------------------------------------------------------

    def create(self, batch: RequeueBatch) -> RequeueBatch:
        """Store a new ``pending`` batch and lock its workspaces, or raise ``BatchInProgress`` naming a held one."""
        workspaces = batch.selection.workspace_ids
        self._take_locks(batch.batch_id, workspaces)
        try:
            self._write_members(batch)
            self._commit(batch)
        except BaseException:
            # An error reply to the commit may hide a commit that happened: a stored batch keeps its locks.
            if not self._stored(batch.batch_id):
                self.release_locks(batch.batch_id, workspaces)
            raise
        return batch

    def _stored(self, batch_id: str) -> bool:
        try:
            return self.get(batch_id) is not None
        except ClientError:
            return True  # unknown: keep the locks (a takeover frees them if the batch was never stored)

    def _take_locks(self, batch_id: str, workspaces: list[str]) -> None:
        for attempt in range(_LOCK_ATTEMPTS):
            if attempt:
                time.sleep(0.02 * 2**attempt)
            locked_at = int(self._clock())
            try:
                self._db.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": to_item(
                                    {**schema.requeue_lock_key(workspace), "batch_id": batch_id, "locked_at": locked_at}
                                ),
                                "ConditionExpression": "attribute_not_exists(#pk)",
                                "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            }
                        }
                        for workspace in workspaces
                    ]
                )
                return
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons") or []
            for workspace, reason in zip(workspaces, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    self._clear_stale_lock(workspace, reason.get("Item"))
            # Either a stale lock was cleared or another writer's transaction conflicted with ours: try again.
        holder = self._lock_holder(workspaces)
        if holder:
            raise BatchInProgress(*holder)
        raise RuntimeError("could not take the workspace locks")

    def _clear_stale_lock(self, workspace: str, item: dict[str, Any] | None) -> None:
        """Delete ``workspace``'s lock if its batch finished or was never stored; else raise ``BatchInProgress``."""
        lock = from_item(item) if item else self._get(schema.requeue_lock_key(workspace))
        if lock is None:
            return  # released meanwhile
        holder = str(lock["batch_id"])
        batch = self.get(holder)
        if batch is not None:
            if not batch.finished:
                raise BatchInProgress(workspace, holder)
            # The runner finished the batch but stopped before releasing this lock.
            self.release_lock(workspace, holder)
            return
        if self._clock() - float(lock.get("locked_at", 0)) < LOCK_TAKEOVER_SECONDS:
            raise BatchInProgress(workspace, holder)  # still being created
        self._abandon(workspace, holder)

    def _abandon(self, workspace: str, holder: str) -> None:
        """Mark ``holder`` abandoned and delete its lock on ``workspace``, unless its batch item appeared."""
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(
                                {
                                    **abandoned_key(holder),
                                    "batch_id": holder,
                                    schema.TTL_ATTRIBUTE: int(self._clock()) + ABANDONED_MARKER_SECONDS,
                                }
                            ),
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": to_item(schema.requeue_batch_key(holder)),
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item(schema.requeue_lock_key(workspace)),
                            "ConditionExpression": "batch_id = :holder",
                            "ExpressionAttributeValues": {":holder": serialize(holder)},
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            # The batch was committed or the lock changed hands meanwhile: the next attempt looks again.

    def _lock_holder(self, workspaces: list[str]) -> tuple[str, str] | None:
        for workspace in workspaces:
            lock = self._get(schema.requeue_lock_key(workspace))
            if lock is not None:
                return workspace, str(lock["batch_id"])
        return None

    def _write_members(self, batch: RequeueBatch) -> None:
        members = [
            {
                "PutRequest": {
                    "Item": to_item(
                        {
                            **schema.requeue_batch_member_key(batch.batch_id, workspace),
                            "entity": schema.Entity.REQUEUE_BATCH,
                            "workspace_id": workspace,
                            "created_at": batch.created_at,
                            "batch_id": batch.batch_id,
                        }
                    )
                }
            }
            for workspace in batch.selection.workspace_ids
        ]
        for start in range(0, len(members), _BATCH_WRITE_SIZE):
            pending: list[dict[str, Any]] = members[start : start + _BATCH_WRITE_SIZE]
            for attempt in range(_UNPROCESSED_RETRIES):
                response = self._db.batch_write_item(RequestItems={self._table: pending})
                pending = response.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            if pending:
                raise RuntimeError("could not write the batch's member items")

    def _commit(self, batch: RequeueBatch) -> None:
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": batch_item(batch),
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": to_item(abandoned_key(batch.batch_id)),
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise BatchCreationAbandoned(
                f"Requeue batch {batch.batch_id} was abandoned before it was stored; nothing of it will run."
            ) from None

    # -- locks --------------------------------------------------------------------------------------------------

    def release_lock(self, workspace_id: str, batch_id: str) -> bool:
        """Delete ``workspace_id``'s lock if ``batch_id`` holds it; ``False`` when it does not (already released)."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=to_item(schema.requeue_lock_key(workspace_id)),
                ConditionExpression="batch_id = :mine",
                ExpressionAttributeValues={":mine": serialize(batch_id)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def release_locks(self, batch_id: str, workspace_ids: Iterable[str]) -> None:
        """Release every lock ``batch_id`` holds among ``workspace_ids`` (the runner calls this when it ends)."""
        for workspace_id in workspace_ids:
            self.release_lock(workspace_id, batch_id)

    def lock_holder(self, workspace_id: str) -> str | None:
        """The batch id holding ``workspace_id``'s lock, if any."""
        lock = self._get(schema.requeue_lock_key(workspace_id))
        return str(lock["batch_id"]) if lock else None

    # -- read ---------------------------------------------------------------------------------------------------

    def get(self, batch_id: str) -> RequeueBatch | None:
        item = self._db.get_item(
            TableName=self._table, Key=to_item(schema.requeue_batch_key(batch_id)), ConsistentRead=True
        ).get("Item")
        return batch_from_item(item) if item else None

    def list_for_workspace(self, workspace_id: str, limit: int, start_key: dict[str, Any] | None) -> BatchPage:
        """One page of the batches of a workspace, newest first: a query of its member items, then their batches.

        Members whose batch item does not exist (a creation that never committed) are left out, so a page may
        hold fewer than ``limit`` batches and still have a next page.
        """
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": schema.BY_WORKSPACE.name,
            "KeyConditionExpression": "workspace_id = :workspace AND entity = :entity",
            "ExpressionAttributeValues": {
                ":workspace": serialize(workspace_id),
                ":entity": serialize(schema.Entity.REQUEUE_BATCH),
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start_key:
            request["ExclusiveStartKey"] = to_item(start_key)
        response = self._db.query(**request)
        batch_ids = [str(from_item(item)["batch_id"]) for item in response.get("Items", [])]
        found = self._get_many(batch_ids)
        last = response.get("LastEvaluatedKey")
        return BatchPage(
            batches=[found[batch_id] for batch_id in batch_ids if batch_id in found],
            last_key=from_item(last) if last else None,
        )

    def _get_many(self, batch_ids: list[str]) -> dict[str, RequeueBatch]:
        found: dict[str, RequeueBatch] = {}
        keys = [to_item(schema.requeue_batch_key(batch_id)) for batch_id in dict.fromkeys(batch_ids)]
        for start in range(0, len(keys), _BATCH_GET_SIZE):
            chunk = keys[start : start + _BATCH_GET_SIZE]
            pending: dict[str, Any] = {self._table: {"Keys": chunk, "ConsistentRead": True}}
            for attempt in range(_UNPROCESSED_RETRIES):
                response = self._db.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self._table, []):
                    batch = batch_from_item(item)
                    found[batch.batch_id] = batch
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            if pending:
                raise RuntimeError("could not read the batches of a page")
        return found

    # -- cancel -------------------------------------------------------------------------------------------------

    def request_cancel(self, batch_id: str, now: str) -> RequeueBatch:
        """Record a cancel request (the first one's time is kept); ``BatchFinished`` once the batch has ended."""
        try:
            written = self._conditional_update(
                schema.requeue_batch_key(batch_id),
                UpdateExpression="SET cancel_requested_at = if_not_exists(cancel_requested_at, :now)",
                ConditionExpression="attribute_exists(#pk) AND NOT (#status IN (:completed, :cancelled, :failed))",
                ExpressionAttributeNames={"#pk": schema.PARTITION_KEY, "#status": "status"},
                ExpressionAttributeValues={
                    ":now": serialize(now),
                    ":completed": serialize(BatchStatus.COMPLETED.value),
                    ":cancelled": serialize(BatchStatus.CANCELLED.value),
                    ":failed": serialize(BatchStatus.FAILED.value),
                },
            )
        except ConditionFailed as refused:
            if refused.old is None:
                raise BatchNotFound(f"Requeue batch {batch_id} not found.") from None
            status = refused.old.get("status")
            raise BatchFinished(f"Requeue batch {batch_id} has already finished ({status}).") from None
        return batch_from_item(written)

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=to_item(key), ConsistentRead=True).get("Item")
        return from_item(item) if item else None
