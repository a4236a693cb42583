"""The batch store's create under crashes: nothing half-created ever runs, and no workspace stays locked for good.

A crash is a creation that stops (its process dies) after taking its locks and before storing its batch item.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from shared import schema
from shared.access import ScopeKind
from shared.aws import client as aws_client
from shared.batches.models import BatchSelection, BatchStatus, CreatedBy, RequeueBatch, new_batch_id
from shared.batches.store import LOCK_TAKEOVER_SECONDS, BatchStore, abandoned_key
from shared.clock import now_iso
from shared.dynamo import from_item, to_item
from shared.errors import BatchCreationAbandoned, BatchInProgress
from shared.tenants.registry import TenantRegistry
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.support.aws import TABLE_NAME


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Crashed(Exception):
    """The process running the creation died here."""


class CrashBeforeCommit(BatchStore):
    """A store whose creation dies after its locks and member items, before the batch item (nothing cleans up)."""

    def _commit(self, batch: RequeueBatch) -> None:
        raise Crashed

    def release_locks(self, batch_id: str, workspace_ids: Any) -> None:
        pass  # a dead process releases nothing

    def commit_late(self, batch: RequeueBatch) -> None:
        """What the creation would do had it only been slow, not dead."""
        super()._commit(batch)


def new_batch(*workspace_ids: str) -> RequeueBatch:
    return RequeueBatch(
        batch_id=new_batch_id(),
        partner_id="ptn_0",
        organization_ids=["org_00"],
        selection=BatchSelection(workspace_ids=list(workspace_ids)),
        created_at=now_iso(),
        created_by=CreatedBy(scope=ScopeKind.PARTNER, key_id="key_test"),
    )


@pytest.fixture
def clock(aws: None) -> Clock:
    return Clock()


def stores(clock: Clock) -> tuple[BatchStore, CrashBeforeCommit]:
    return BatchStore(TABLE_NAME, aws_client("dynamodb"), clock), CrashBeforeCommit(
        TABLE_NAME, aws_client("dynamodb"), clock
    )


def crash(crashing: CrashBeforeCommit, *workspace_ids: str) -> RequeueBatch:
    batch = new_batch(*workspace_ids)
    with pytest.raises(Crashed):
        crashing.create(batch)
    return batch


def test_a_crashed_creation_holds_its_workspaces_only_for_the_takeover_delay(clock: Clock) -> None:
    store, crashing = stores(clock)
    crashed = crash(crashing, "ws_000", "ws_001")

    # Within the delay the workspace is busy: the creation may still be running
    clock.now += LOCK_TAKEOVER_SECONDS - 1
    with pytest.raises(BatchInProgress) as busy:
        store.create(new_batch("ws_001"))
    assert busy.value.batch_id == crashed.batch_id

    # After it, the next creation takes the workspace over, and the crashed batch is marked abandoned
    clock.now += 2
    taken = store.create(new_batch("ws_001"))
    assert store.lock_holder("ws_001") == taken.batch_id
    assert store.lock_holder("ws_000") == crashed.batch_id  # untouched until someone needs it
    marker = boto3.client("dynamodb").get_item(TableName=TABLE_NAME, Key=to_item(abandoned_key(crashed.batch_id)))
    assert from_item(marker["Item"])[schema.TTL_ATTRIBUTE] > clock.now


def test_an_abandoned_batch_can_never_be_stored_afterwards(clock: Clock) -> None:
    store, crashing = stores(clock)
    crashed = crash(crashing, "ws_000")
    clock.now += LOCK_TAKEOVER_SECONDS + 1
    store.create(new_batch("ws_000"))

    # A creation that was only slow, not dead, now tries to store its batch item
    with pytest.raises(BatchCreationAbandoned):
        crashing.commit_late(crashed)

    assert store.get(crashed.batch_id) is None  # so its stream INSERT never happens and it never runs


def test_a_lock_is_never_taken_from_a_batch_that_was_stored(clock: Clock) -> None:
    store, _ = stores(clock)
    pending = store.create(new_batch("ws_000"))

    clock.now += 24 * 3600
    with pytest.raises(BatchInProgress) as busy:
        store.create(new_batch("ws_000"))

    assert busy.value.batch_id == pending.batch_id
    assert busy.value.workspace_id == "ws_000"


def test_the_lock_of_a_finished_batch_left_behind_is_cleared_at_once(clock: Clock) -> None:
    store, _ = stores(clock)
    finished = store.create(new_batch("ws_000"))
    boto3.client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key=to_item(schema.requeue_batch_key(finished.batch_id)),
        UpdateExpression="SET #status = :done",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":done": {"S": BatchStatus.COMPLETED.value}},
    )  # the runner ended it, then stopped before releasing its lock

    following = store.create(new_batch("ws_000"))

    assert store.lock_holder("ws_000") == following.batch_id


def test_release_deletes_only_the_batch_s_own_lock(clock: Clock) -> None:
    store, _ = stores(clock)
    holder = store.create(new_batch("ws_000"))

    assert store.release_lock("ws_000", "rb_someone_else") is False
    assert store.lock_holder("ws_000") == holder.batch_id
    assert store.release_lock("ws_000", holder.batch_id) is True
    assert store.release_lock("ws_000", holder.batch_id) is False
    assert store.lock_holder("ws_000") is None


def test_a_refused_creation_takes_no_lock_at_all(clock: Clock) -> None:
    store, _ = stores(clock)
    store.create(new_batch("ws_002"))

    with pytest.raises(BatchInProgress):
        store.create(new_batch("ws_000", "ws_001", "ws_002"))

    assert [store.lock_holder(ws) for ws in ("ws_000", "ws_001")] == [None, None]


def test_members_of_a_batch_never_stored_are_not_listed(api: ApiCall, tenants: Tenants, clock: Clock) -> None:
    _, crashing = stores(clock)
    crash(crashing, "ws_000")

    reply = api("GET", "/api/v1/requeue-batches", tenants.callers["ws_000"])

    assert reply.status == 200
    assert reply.body["batches"] == []


def test_a_batch_of_a_hundred_workspaces_is_created_listed_and_locked(api: ApiCall, tenants: Tenants) -> None:
    registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
    workspace_ids = [registry.create_workspace("org_00", f"Branch {index}").workspace_id for index in range(98)]
    workspace_ids += ["ws_000", "ws_001"]

    created = api("POST", "/api/v1/requeue-batches", tenants.callers["org_00"], {"workspace_ids": workspace_ids})

    assert created.status == 202
    batch_id = created.body["batch_id"]
    store = BatchStore(TABLE_NAME, aws_client("dynamodb"))
    assert {store.lock_holder(workspace_id) for workspace_id in workspace_ids} == {batch_id}
    for workspace_id in (workspace_ids[0], workspace_ids[57], "ws_001"):
        listed = api("GET", "/api/v1/requeue-batches", tenants.callers["org_00"], query={"workspace_id": workspace_id})
        assert [batch["batch_id"] for batch in listed.body["batches"]] == [batch_id]
    refused = api("POST", "/api/v1/requeue-batches", tenants.callers["ws_001"], {})
    assert (refused.status, refused.body["code"]) == (409, "batch_in_progress")


class FailingMembers(BatchStore):
    def _write_members(self, batch: RequeueBatch) -> None:
        raise RuntimeError("throttled")


def test_a_creation_that_fails_releases_its_locks(clock: Clock) -> None:
    failing = FailingMembers(TABLE_NAME, aws_client("dynamodb"), clock)

    with pytest.raises(RuntimeError):
        failing.create(new_batch("ws_000", "ws_001"))

    store, _ = stores(clock)
    assert [store.lock_holder(ws) for ws in ("ws_000", "ws_001")] == [None, None]
    assert store.create(new_batch("ws_001")).selection.workspace_ids == ["ws_001"]


class LostCommitReply(BatchStore):
    """A store whose commit is written, but whose reply is lost (the client sees an error)."""

    def _commit(self, batch: RequeueBatch) -> None:
        super()._commit(batch)
        raise ConnectionError("read timeout")


def test_a_commit_whose_reply_was_lost_keeps_its_locks(clock: Clock) -> None:
    lost = LostCommitReply(TABLE_NAME, aws_client("dynamodb"), clock)
    batch = new_batch("ws_000")

    with pytest.raises(ConnectionError):
        lost.create(batch)

    store, _ = stores(clock)
    assert store.get(batch.batch_id) is not None
    assert store.lock_holder("ws_000") == batch.batch_id
