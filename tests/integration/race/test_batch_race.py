"""Concurrent creates, retries and cancels of requeue batches on one workspace (single-threaded moto server).

Exactly one create wins a workspace; the others are told which batch holds it; no lock is left held by a batch
that does not exist; retries with one Idempotency-Key make one batch; cancels never free the workspace.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from shared.access import Caller, ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from shared.batches.models import BatchStatus
from shared.batches.store import BatchStore
from shared.tenants.registry import TenantRegistry
from tests.integration.api.conftest import ApiReply
from tests.support.aws import TABLE_NAME
from tests.support.events import FakeContext, api_event

pytestmark = pytest.mark.slow

CLIENTS = 12
BATCHES = "/api/v1/requeue-batches"
WORKSPACES = ["ws_ra", "ws_rb", "ws_rc"]


@dataclass
class RaceKeys:
    partner: Caller
    workspace: Caller  # of ws_ra


@pytest.fixture
def keys(moto_server: str) -> Iterator[RaceKeys]:
    """A partner with three workspaces in one organization, its key and ws_ra's key, served by the server."""
    from functions.api import handler

    registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
    registry.create_partner("Race partner", "ptn_r")
    registry.create_organization("ptn_r", "Race org", "org_r")
    for workspace_id in WORKSPACES:
        registry.create_workspace("org_r", f"Race {workspace_id}", workspace_id)
    issued = ApiKeyRepository(TABLE_NAME, aws_client("dynamodb"))
    _, partner = issued.create(ScopeKind.PARTNER, "ptn_r", "race", tenant_exists=True)
    _, workspace = issued.create(ScopeKind.WORKSPACE, "ws_ra", "race", tenant_exists=True)
    handler.batch_service.cache_clear()
    yield RaceKeys(partner=partner.caller(), workspace=workspace.caller())
    handler.batch_service.cache_clear()


def _call(method: str, path: str, caller: Caller, body: Any = None, headers: dict[str, str] | None = None) -> ApiReply:
    from functions.api import handler

    event = api_event(method, path, caller, body)
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    response = handler.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    return ApiReply(status=response["statusCode"], body=json.loads(response["body"]), headers={})


def _all_at_once(*calls: tuple[Any, ...]) -> list[ApiReply]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: _call(*call), calls))


def _finish(batch_id: str) -> None:
    """The runner's end of a batch: its status, then its locks released."""
    store = BatchStore(TABLE_NAME, aws_client("dynamodb"))
    aws_client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}},
        UpdateExpression="SET #status = :status",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": {"S": BatchStatus.CANCELLED.value}},
    )
    batch = store.get(batch_id)
    assert batch is not None
    store.release_locks(batch_id, batch.selection.workspace_ids)


def test_concurrent_creates_on_one_workspace_have_exactly_one_winner(keys: RaceKeys) -> None:
    # When a dozen clients (the workspace's key and the partner's) start a batch of ws_ra at the same moment
    calls = [
        ("POST", BATCHES, keys.workspace if index % 2 else keys.partner, {"workspace_ids": ["ws_ra"]})
        for index in range(CLIENTS)
    ]
    replies = _all_at_once(*calls)

    # Then one is accepted and every other is told that batch holds the workspace
    assert Counter(reply.status for reply in replies) == {202: 1, 409: CLIENTS - 1}
    [winner] = [reply.body["batch_id"] for reply in replies if reply.status == 202]
    assert {reply.body["code"] for reply in replies if reply.status == 409} == {"batch_in_progress"}
    assert all(winner in reply.body["detail"] for reply in replies if reply.status == 409)
    store = BatchStore(TABLE_NAME, aws_client("dynamodb"))
    assert store.lock_holder("ws_ra") == winner
    listed = _call("GET", BATCHES, keys.workspace).body["batches"]
    assert [batch["batch_id"] for batch in listed] == [winner]


def test_overlapping_creates_lock_each_workspace_for_one_stored_batch(keys: RaceKeys) -> None:
    # When clients start batches over overlapping pairs of workspaces at once
    pairs = [[WORKSPACES[index % 3], WORKSPACES[(index + 1) % 3]] for index in range(CLIENTS)]
    replies = _all_at_once(*(("POST", BATCHES, keys.partner, {"workspace_ids": pair}) for pair in pairs))

    # Then (any two pairs overlap) one wins, and every lock is held by it: none by a batch that was refused
    assert Counter(reply.status for reply in replies) == {202: 1, 409: CLIENTS - 1}
    [winner] = [reply.body for reply in replies if reply.status == 202]
    store = BatchStore(TABLE_NAME, aws_client("dynamodb"))
    holders = {workspace_id: store.lock_holder(workspace_id) for workspace_id in WORKSPACES}
    locked = {workspace_id for workspace_id, holder in holders.items() if holder}
    assert locked == set(winner["selection"]["workspace_ids"])
    assert {holders[workspace_id] for workspace_id in locked} == {winner["batch_id"]}


def test_concurrent_retries_with_one_idempotency_key_make_one_batch(keys: RaceKeys) -> None:
    # When a client's retries of one request arrive together
    headers = {"Idempotency-Key": "retry-storm"}
    replies = _all_at_once(*(("POST", BATCHES, keys.workspace, {"dry_run": True}, headers) for _ in range(CLIENTS)))

    # Then each one answers the same batch, and only that batch exists
    assert Counter(reply.status for reply in replies) == {202: CLIENTS}
    assert len({reply.body["batch_id"] for reply in replies}) == 1
    listed = _call("GET", BATCHES, keys.workspace).body["batches"]
    assert [batch["batch_id"] for batch in listed] == [replies[0].body["batch_id"]]


def test_concurrent_cancels_and_creates_leave_the_workspace_to_its_batch_until_it_ends(keys: RaceKeys) -> None:
    # Given a pending batch of ws_ra
    pending = _call("POST", BATCHES, keys.workspace, {}).body["batch_id"]

    # When clients cancel it while others try to start another batch of the workspace
    cancels = [
        ("POST", f"{BATCHES}/{pending}/cancel", keys.partner if index % 2 else keys.workspace) for index in range(6)
    ]
    creates = [("POST", BATCHES, keys.partner, {"workspace_ids": ["ws_ra", "ws_rb"]}) for _ in range(6)]
    replies = _all_at_once(*(call for pair in zip(cancels, creates, strict=True) for call in pair))

    # Then every cancel is recorded (once), and no create gets the workspace while the batch has not ended
    by_path = Counter((reply.status, reply.body.get("code")) for reply in replies)
    assert by_path == {(202, None): 6, (409, "batch_in_progress"): 6}
    store = BatchStore(TABLE_NAME, aws_client("dynamodb"))
    batch = store.get(pending)
    assert batch is not None
    assert batch.cancel_requested_at is not None
    assert store.lock_holder("ws_ra") == pending
    assert store.lock_holder("ws_rb") is None

    # And once the runner has ended it, exactly one of the next concurrent creates wins
    _finish(pending)
    again = _all_at_once(*creates)
    assert Counter(reply.status for reply in again) == {202: 1, 409: len(creates) - 1}
    late_cancel = _call("POST", f"{BATCHES}/{pending}/cancel", keys.workspace)
    assert (late_cancel.status, late_cancel.body["code"]) == (409, "batch_finished")
