"""Idempotency-Key on POST /api/v1/requeue-batches: a retry answers the same batch; another body is refused."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from shared import schema
from shared.aws import client as aws_client
from shared.batches.idempotency import IdempotentCreates
from shared.dynamo import from_item
from shared.errors import IdempotencyKeyInUse
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.integration.api.test_requeue_batches import BATCHES, finish, store
from tests.support.aws import TABLE_NAME

BODY = {"skip_reasons": ["duration_below_minimum"], "dry_run": True}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def test_a_retry_with_the_same_body_answers_the_same_batch(api: ApiCall, tenants: Tenants) -> None:
    caller = tenants.callers["ws_000"]

    first = api("POST", BATCHES, caller, BODY, headers=key("retry-1"))
    retry = api("POST", BATCHES, caller, dict(reversed(BODY.items())), headers=key("retry-1"))

    assert (first.status, retry.status) == (202, 202)
    assert retry.body == first.body
    assert [batch["batch_id"] for batch in api("GET", BATCHES, caller).body["batches"]] == [first.body["batch_id"]]


def test_a_retry_answers_the_batch_as_it_is_now(api: ApiCall, tenants: Tenants) -> None:
    caller = tenants.callers["ws_000"]
    batch_id = api("POST", BATCHES, caller, BODY, headers=key("retry-2")).body["batch_id"]
    finish(batch_id)

    retry = api("POST", BATCHES, caller, BODY, headers=key("retry-2"))

    assert retry.status == 202
    assert (retry.body["batch_id"], retry.body["status"]) == (batch_id, "completed")
    assert store().lock_holder("ws_000") is None  # the retry took no lock: it created nothing


def test_the_same_key_with_another_body_is_a_conflict(api: ApiCall, tenants: Tenants) -> None:
    caller = tenants.callers["ws_000"]
    first = api("POST", BATCHES, caller, BODY, headers=key("reused")).body["batch_id"]
    finish(first)

    other = api("POST", BATCHES, caller, {**BODY, "dry_run": False}, headers=key("reused"))

    assert other.status == 409
    assert other.body["code"] == "idempotency_key_reused"
    assert store().lock_holder("ws_000") is None


def test_an_equivalent_body_is_the_same_body(api: ApiCall, tenants: Tenants) -> None:
    """Defaults written out, or a workspace key naming its own workspace, ask for the same batch."""
    caller = tenants.callers["ws_000"]
    first = api("POST", BATCHES, caller, {}, headers=key("same"))

    spelled_out = api("POST", BATCHES, caller, {"only_passing": True, "dry_run": False}, headers=key("same"))
    named = api("POST", BATCHES, caller, {"workspace_ids": ["ws_000"]}, headers=key("same"))

    assert (spelled_out.status, named.status) == (202, 202)
    assert spelled_out.body["batch_id"] == named.body["batch_id"] == first.body["batch_id"]


def test_keys_are_scoped_to_the_api_key(api: ApiCall, tenants: Tenants) -> None:
    mine = api("POST", BATCHES, tenants.callers["ws_000"], BODY, headers=key("shared-value"))
    theirs = api("POST", BATCHES, tenants.callers["ws_100"], BODY, headers=key("shared-value"))
    same_workspace_other_key = api(
        "POST", BATCHES, tenants.callers["org_00"], {**BODY, "workspace_ids": ["ws_001"]}, headers=key("shared-value")
    )

    assert (mine.status, theirs.status, same_workspace_other_key.status) == (202, 202, 202)
    assert len({mine.body["batch_id"], theirs.body["batch_id"], same_workspace_other_key.body["batch_id"]}) == 3
    assert theirs.body["selection"]["workspace_ids"] == ["ws_100"]


def test_a_refused_request_stores_nothing_so_its_retry_can_succeed(api: ApiCall, tenants: Tenants) -> None:
    caller = tenants.callers["ws_000"]
    blocking = api("POST", BATCHES, caller, {}).body["batch_id"]

    refused = api("POST", BATCHES, caller, BODY, headers=key("after-409"))
    finish(blocking)
    retried = api("POST", BATCHES, caller, BODY, headers=key("after-409"))

    assert (refused.status, refused.body["code"]) == (409, "batch_in_progress")
    assert retried.status == 202
    assert retried.body["batch_id"] != blocking


def test_records_expire_through_the_table_ttl_and_never_hold_the_key_in_clear(api: ApiCall, tenants: Tenants) -> None:
    api("POST", BATCHES, tenants.callers["ws_000"], BODY, headers=key("secret-looking-key"))

    items = boto3.client("dynamodb").query(
        TableName=TABLE_NAME,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": schema.idempotency_partition("requeue-batches")}},
    )["Items"]

    [record] = [from_item(item) for item in items]
    assert record["idempotency_status"] == "COMPLETED"
    assert isinstance(record[schema.TTL_ATTRIBUTE], int)
    assert "status" not in record
    assert "secret-looking-key" not in str(record["sk"])


class Crashed(BaseException):
    """The invocation died (a timeout, the process killed): nothing after this point runs."""


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_first_request_still_running_makes_a_retry_wait_then_answer_in_use(tenants: Tenants) -> None:
    creates = IdempotentCreates(TABLE_NAME, aws_client("dynamodb"), wait_seconds=0.3)
    caller = tenants.callers["ws_000"]

    def crash() -> dict[str, Any]:
        raise Crashed

    with pytest.raises(Crashed):
        creates.once(caller, "slow", {"dry_run": True}, crash, Context(remaining_ms=30_000))

    with pytest.raises(IdempotencyKeyInUse):
        creates.once(caller, "slow", {"dry_run": True}, lambda: {"batch_id": "rb_2"}, Context(30_000))


def test_a_crashed_first_request_blocks_its_retries_only_for_its_remaining_time(tenants: Tenants) -> None:
    creates = IdempotentCreates(TABLE_NAME, aws_client("dynamodb"), wait_seconds=0.3)
    caller = tenants.callers["ws_000"]

    def crash() -> dict[str, Any]:
        raise Crashed

    with pytest.raises(Crashed):
        creates.once(caller, "crashed", {"dry_run": True}, crash, Context(remaining_ms=1))
    time.sleep(0.01)

    result = creates.once(caller, "crashed", {"dry_run": True}, lambda: {"batch_id": "rb_2"}, Context(30_000))

    assert result == {"batch_id": "rb_2"}
