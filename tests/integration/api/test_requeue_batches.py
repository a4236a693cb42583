"""POST/GET /api/v1/requeue-batches and cancel: a batch is stored pending, read back, listed and cancelled."""

from __future__ import annotations

from typing import Any

import pytest

from shared.aws import client as aws_client
from shared.batches.models import BatchStatus
from shared.batches.store import BatchStore
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.support.aws import TABLE_NAME

BATCHES = "/api/v1/requeue-batches"
PUBLIC_FIELDS = {
    "batch_id",
    "status",
    "dry_run",
    "selection",
    "counts",
    "created_at",
    "created_by",
    "started_at",
    "finished_at",
}


def store() -> BatchStore:
    return BatchStore(TABLE_NAME, aws_client("dynamodb"))


def finish(batch_id: str, status: BatchStatus = BatchStatus.COMPLETED) -> None:
    """What the runner does when a batch ends: its status and end time, then its locks released."""
    batches = store()
    batch = batches.get(batch_id)
    assert batch is not None
    aws_client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}},
        UpdateExpression="SET #status = :status, finished_at = :now",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": {"S": status.value}, ":now": {"S": "2026-12-02T08:00:00.000Z"}},
    )
    batches.release_locks(batch_id, batch.selection.workspace_ids)


def test_a_workspace_key_creates_a_pending_batch_of_its_workspace(api: ApiCall, tenants: Tenants) -> None:
    caller = tenants.callers["ws_000"]

    reply = api("POST", BATCHES, caller, {"skip_reasons": ["duration_below_minimum"], "dry_run": True})

    assert reply.status == 202
    assert set(reply.body) == PUBLIC_FIELDS
    assert reply.body["batch_id"].startswith("rb_")
    assert reply.body["status"] == "pending"
    assert reply.body["dry_run"] is True
    assert reply.body["selection"] == {
        "workspace_ids": ["ws_000"],
        "skip_reasons": ["duration_below_minimum"],
        "skipped_after": None,
        "skipped_before": None,
        "job_ids": None,
        "source_ids": None,
        "only_passing": True,
        "max_jobs": 100_000,
    }
    assert reply.body["counts"] == dict.fromkeys(
        ("matched", "requeued", "would_pass", "would_skip", "not_skipped_anymore", "failed"), 0
    )
    assert reply.body["created_by"] == {"scope": "workspace", "key_id": caller.key_id}
    assert (reply.body["started_at"], reply.body["finished_at"]) == (None, None)
    stored = store().get(reply.body["batch_id"])
    assert stored is not None
    assert (stored.partner_id, stored.organization_ids) == ("ptn_0", ["org_00"])
    assert store().lock_holder("ws_000") == reply.body["batch_id"]


def test_a_partner_key_creates_one_batch_over_workspaces_of_two_organizations(api: ApiCall, tenants: Tenants) -> None:
    reply = api("POST", BATCHES, tenants.callers["ptn_0"], {"workspace_ids": ["ws_000", "ws_010"], "max_jobs": 5})

    assert reply.status == 202
    assert reply.body["selection"]["workspace_ids"] == ["ws_000", "ws_010"]
    assert reply.body["selection"]["max_jobs"] == 5
    stored = store().get(reply.body["batch_id"])
    assert stored is not None
    assert stored.organization_ids == ["org_00", "org_01"]
    assert {store().lock_holder(ws) for ws in ("ws_000", "ws_010")} == {reply.body["batch_id"]}


def test_the_time_window_is_stored_in_utc_milliseconds(api: ApiCall, tenants: Tenants) -> None:
    body = {"skipped_after": "2026-11-30T01:00:00+01:00", "skipped_before": "2026-12-01T00:00:00.5Z"}

    reply = api("POST", BATCHES, tenants.callers["ws_000"], body)

    assert reply.status == 202
    selection = reply.body["selection"]
    assert (selection["skipped_after"], selection["skipped_before"]) == (
        "2026-11-30T00:00:00.000Z",
        "2026-12-01T00:00:00.500Z",
    )


@pytest.mark.parametrize("scope_id", ["org_00", "ptn_0"])
def test_other_keys_must_name_the_workspaces(api: ApiCall, tenants: Tenants, scope_id: str) -> None:
    reply = api("POST", BATCHES, tenants.callers[scope_id], {"dry_run": True})

    assert reply.status == 400
    assert reply.body["code"] == "workspace_required"


@pytest.mark.parametrize(
    ("scope_id", "workspace_ids"),
    [("org_00", ["ws_000", "ws_010"]), ("ws_000", ["ws_000", "ws_001"]), ("ptn_0", ["ws_000", "ws_nope"])],
)
def test_a_workspace_outside_the_scope_or_unknown_is_forbidden_and_nothing_is_stored(
    api: ApiCall, tenants: Tenants, scope_id: str, workspace_ids: list[str]
) -> None:
    reply = api("POST", BATCHES, tenants.callers[scope_id], {"workspace_ids": workspace_ids})

    assert reply.status == 403
    assert reply.body["code"] == "forbidden"
    assert workspace_ids[1] in reply.body["detail"]
    assert store().lock_holder("ws_000") is None


def test_a_second_batch_on_a_workspace_is_refused_until_the_first_finishes(api: ApiCall, tenants: Tenants) -> None:
    first = api("POST", BATCHES, tenants.callers["ws_000"], {}).body["batch_id"]

    refused = api("POST", BATCHES, tenants.callers["ptn_0"], {"workspace_ids": ["ws_001", "ws_000"]})

    assert refused.status == 409
    assert refused.body["code"] == "batch_in_progress"
    assert "ws_000" in refused.body["detail"]
    assert first in refused.body["detail"]
    assert store().lock_holder("ws_001") is None  # all locks or none

    finish(first)
    second = api("POST", BATCHES, tenants.callers["ptn_0"], {"workspace_ids": ["ws_001", "ws_000"]})
    assert second.status == 202
    assert store().lock_holder("ws_000") == second.body["batch_id"]


def test_get_answers_the_batch_to_keys_covering_all_its_workspaces(api: ApiCall, tenants: Tenants) -> None:
    batch_id = api("POST", BATCHES, tenants.callers["ptn_0"], {"workspace_ids": ["ws_000", "ws_001"]}).body["batch_id"]

    readers = {scope_id: api("GET", f"{BATCHES}/{batch_id}", tenants.callers[scope_id]) for scope_id in tenants.callers}

    allowed = {scope_id for scope_id, reply in readers.items() if reply.status == 200}
    assert allowed == {"ptn_0", "org_00"}
    assert {reply.status for scope_id, reply in readers.items() if scope_id not in allowed} == {403}
    assert readers["org_00"].body["batch_id"] == batch_id


def test_an_unknown_batch_is_not_found(api: ApiCall, tenants: Tenants) -> None:
    for method, path in (("GET", f"{BATCHES}/rb_unknown"), ("POST", f"{BATCHES}/rb_unknown/cancel")):
        reply = api(method, path, tenants.callers["ptn_0"])

        assert reply.status == 404
        assert reply.body["code"] == "batch_not_found"


def _create_finished(api: ApiCall, tenants: Tenants, workspace_id: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        batch_id = api("POST", BATCHES, tenants.callers[workspace_id], {}).body["batch_id"]
        finish(batch_id)
        ids.append(batch_id)
    return ids


def test_list_pages_a_workspace_s_batches_newest_first(api: ApiCall, tenants: Tenants) -> None:
    created = _create_finished(api, tenants, "ws_000", 5)
    caller = tenants.callers["org_00"]
    query = {"workspace_id": "ws_000", "limit": "2"}
    seen: list[str] = []

    reply = api("GET", BATCHES, caller, query=query)
    while True:
        assert reply.status == 200
        seen += [batch["batch_id"] for batch in reply.body["batches"]]
        if not reply.body["next_cursor"]:
            break
        reply = api("GET", BATCHES, caller, query={**query, "cursor": reply.body["next_cursor"]})

    assert seen == list(reversed(created))


def test_list_shows_only_batches_the_key_may_read(api: ApiCall, tenants: Tenants) -> None:
    own = api("POST", BATCHES, tenants.callers["ws_000"], {}).body["batch_id"]
    finish(own)
    wide = api("POST", BATCHES, tenants.callers["ptn_0"], {"workspace_ids": ["ws_000", "ws_010"]}).body["batch_id"]

    as_workspace = api("GET", BATCHES, tenants.callers["ws_000"])
    as_partner = api("GET", BATCHES, tenants.callers["ptn_0"], query={"workspace_id": "ws_000"})

    assert [batch["batch_id"] for batch in as_workspace.body["batches"]] == [own]
    assert [batch["batch_id"] for batch in as_partner.body["batches"]] == [wide, own]


def test_a_cursor_is_bound_to_the_workspace_and_the_key(api: ApiCall, tenants: Tenants) -> None:
    _create_finished(api, tenants, "ws_000", 2)
    first = api("GET", BATCHES, tenants.callers["ws_000"], query={"limit": "1"})
    cursor = first.body["next_cursor"]

    replays: list[tuple[str, dict[str, Any]]] = [
        ("org_00", {"workspace_id": "ws_000", "cursor": cursor}),
        ("ws_000", {"cursor": cursor[:-2] + "xx"}),
    ]
    for scope_id, query in replays:
        reply = api("GET", BATCHES, tenants.callers[scope_id], query=query)
        assert reply.status == 400
        assert reply.body["code"] == "invalid_cursor"


def test_list_needs_a_workspace_for_wide_keys_and_refuses_foreign_ones(api: ApiCall, tenants: Tenants) -> None:
    assert api("GET", BATCHES, tenants.callers["org_00"]).body["code"] == "workspace_required"
    assert api("GET", BATCHES, tenants.callers["org_00"], query={"workspace_id": "ws_010"}).status == 403
    assert api("GET", BATCHES, tenants.callers["ws_000"], query={"workspace_id": "ws_001"}).status == 403


def test_cancel_records_the_request_once_and_twice_is_fine(api: ApiCall, tenants: Tenants) -> None:
    batch_id = api("POST", BATCHES, tenants.callers["ws_000"], {}).body["batch_id"]

    first = api("POST", f"{BATCHES}/{batch_id}/cancel", tenants.callers["ws_000"])
    requested_at = store().get(batch_id).cancel_requested_at  # type: ignore[union-attr]
    again = api("POST", f"{BATCHES}/{batch_id}/cancel", tenants.callers["org_00"])

    assert (first.status, again.status) == (202, 202)
    assert first.body["batch_id"] == batch_id
    assert first.body["status"] == "pending"  # the runner turns it cancelled when it stops
    assert requested_at is not None
    assert store().get(batch_id).cancel_requested_at == requested_at  # type: ignore[union-attr]
    assert store().lock_holder("ws_000") == batch_id  # only the runner releases the lock


@pytest.mark.parametrize("status", [BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.FAILED])
def test_cancelling_a_finished_batch_is_a_conflict(api: ApiCall, tenants: Tenants, status: BatchStatus) -> None:
    batch_id = api("POST", BATCHES, tenants.callers["ws_000"], {}).body["batch_id"]
    finish(batch_id, status)

    reply = api("POST", f"{BATCHES}/{batch_id}/cancel", tenants.callers["ws_000"])

    assert reply.status == 409
    assert reply.body["code"] == "batch_finished"
    assert store().get(batch_id).cancel_requested_at is None  # type: ignore[union-attr]
