"""POST /api/v1/requeue-batches refuses a body outside the contract with 400 validation_error, storing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from shared.aws import client as aws_client
from shared.batches.store import BatchStore
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.support.aws import TABLE_NAME

BATCHES = "/api/v1/requeue-batches"
MANY_WORKSPACES = [f"ws_{index:03d}" for index in range(101)]


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"unknown": 1}, "body.unknown"),
        ({"workspace_ids": []}, "body.workspace_ids"),
        ({"workspace_ids": MANY_WORKSPACES}, "body.workspace_ids"),
        ({"workspace_ids": ["ws_000", "ws_000"]}, "body.workspace_ids"),
        ({"workspace_ids": ["ws 000"]}, "body.workspace_ids.0"),
        ({"skip_reasons": ["duration_below_minimum:12<30"]}, "body.skip_reasons.0"),
        ({"skip_reasons": ["too_short"]}, "body.skip_reasons.0"),
        ({"skip_reasons": []}, "body.skip_reasons"),
        ({"skipped_after": "yesterday"}, "body.skipped_after"),
        ({"skipped_after": "2026-11-30T00:00:00"}, "body.skipped_after"),  # no offset
        ({"skipped_after": "2026-11-30"}, "body.skipped_after"),
        ({"skipped_before": "2026-02-30T00:00:00Z"}, "body.skipped_before"),
        ({"skipped_after": 1764460800}, "body.skipped_after"),
        ({"job_ids": ["12a"]}, "body.job_ids.0"),
        ({"job_ids": [str(index) for index in range(1001)]}, "body.job_ids"),
        ({"job_ids": ["1", "1"]}, "body.job_ids"),
        ({"source_ids": [""]}, "body.source_ids.0"),
        ({"source_ids": [f"CAL{index}" for index in range(1001)]}, "body.source_ids"),
        ({"max_jobs": 0}, "body.max_jobs"),
        ({"max_jobs": 100_001}, "body.max_jobs"),
        ({"max_jobs": "ten"}, "body.max_jobs"),
        ({"dry_run": "maybe"}, "body.dry_run"),
        ({"only_passing": None}, "body.only_passing"),
    ],
)
def test_a_field_outside_its_rules_is_named(
    api: ApiCall, tenants: Tenants, body: dict[str, Any], location: str
) -> None:
    reply = api("POST", BATCHES, tenants.callers["ws_000"], body)

    assert reply.status == 400
    assert reply.body["code"] == "validation_error"
    assert location in [issue["location"] for issue in reply.body["errors"]]
    assert BatchStore(TABLE_NAME, aws_client("dynamodb")).lock_holder("ws_000") is None


@pytest.mark.parametrize(
    "body",
    [
        {"job_ids": ["1"], "source_ids": ["CAL1"]},
        {"job_ids": ["1"], "skip_reasons": ["rate_limit"]},
        {"source_ids": ["CAL1"], "skipped_after": "2026-11-30T00:00:00Z"},
        {"job_ids": ["1"], "skipped_before": "2026-11-30T00:00:00Z"},
        {"skipped_after": "2026-12-01T00:00:00Z", "skipped_before": "2026-11-30T00:00:00Z"},
        {"skipped_after": "2026-12-01T00:00:00Z", "skipped_before": "2026-12-01T01:00:00+01:00"},
    ],
)
def test_selections_that_contradict_each_other_are_refused(
    api: ApiCall, tenants: Tenants, body: dict[str, Any]
) -> None:
    reply = api("POST", BATCHES, tenants.callers["ws_000"], body)

    assert reply.status == 400
    assert reply.body["code"] == "validation_error"
    assert [issue["location"] for issue in reply.body["errors"]] == ["body"]


@pytest.mark.parametrize(
    "body",
    [
        {"job_ids": ["1", "2"], "only_passing": False, "max_jobs": 1},
        {"source_ids": ["CAL1"]},
        {"skip_reasons": ["rate_limit", "skip_all_on_ingest"], "skipped_after": "2026-11-30T00:00:00Z"},
        {"workspace_ids": ["ws_000"], "skipped_before": "2026-11-30T00:00:00.123456-08:00"},
    ],
)
def test_each_way_of_selecting_is_accepted(api: ApiCall, tenants: Tenants, body: dict[str, Any]) -> None:
    reply = api("POST", BATCHES, tenants.callers["ws_000"], body)

    assert reply.status == 202
    assert {key: reply.body["selection"][key] for key in body if key.endswith("_ids")} == {
        key: value for key, value in body.items() if key.endswith("_ids")
    }


@pytest.mark.parametrize("value", ["", "x" * 256, "has space", "naïve"])
def test_an_idempotency_key_outside_visible_ascii_is_refused(api: ApiCall, tenants: Tenants, value: str) -> None:
    reply = api("POST", BATCHES, tenants.callers["ws_000"], {}, headers={"Idempotency-Key": value})

    assert reply.status == 400
    assert reply.body["code"] == "validation_error"


def test_a_body_that_is_not_json_is_refused(api: ApiCall, tenants: Tenants) -> None:
    not_json = api("POST", BATCHES, tenants.callers["ws_000"], "{", headers={})
    form = api("POST", BATCHES, tenants.callers["ws_000"], "a=1", headers={"Content-Type": "text/plain"})

    assert (not_json.status, not_json.body["code"]) == (400, "validation_error")
    assert (form.status, form.body["code"]) == (415, "unsupported_media_type")


def test_a_batch_id_with_characters_no_batch_has_is_a_validation_error(api: ApiCall, tenants: Tenants) -> None:
    reply = api("GET", f"{BATCHES}/rb.1", tenants.callers["ws_000"])

    assert reply.status == 400
    assert reply.body["code"] == "validation_error"
