"""The config routes end to end in-process: documents with versions and ETags, merge patches, history, provenance."""

from __future__ import annotations

from typing import Any

import boto3

from infra.admin.cli import main as admin
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall, ApiReply
from tests.support.aws import CONFIG_PREFIX, TABLE_NAME

MIN = "processing.filters.min_duration_seconds"
WS = "/api/v1/config/workspaces/ws_000"
ORG = "/api/v1/config/organizations/org_00"


def _patch(api: ApiCall, tenants: Tenants, path: str, body: Any, key: str = "ws_000", **headers: str) -> ApiReply:
    return api(
        "PATCH",
        path,
        tenants.callers[key],
        body,
        headers={"Content-Type": "application/merge-patch+json", **headers},
    )


def _minimum(api: ApiCall, tenants: Tenants) -> dict[str, Any]:
    reply = api("GET", f"{WS}/effective", tenants.callers["ws_000"])
    assert reply.status == 200, reply.body
    setting: dict[str, Any] = reply.body["settings"][MIN]
    return setting


def test_a_level_without_changes_is_an_empty_document_at_version_0(api: ApiCall, tenants: Tenants) -> None:
    reply = api("GET", WS, tenants.callers["ws_000"])

    assert reply.status == 200
    assert reply.body == {
        "level": "workspace",
        "id": "ws_000",
        "config": {},
        "version": 0,
        "updated_at": None,
        "updated_by": None,
    }
    assert reply.headers["ETag"] == '"0"'


def test_patch_stores_a_new_version_that_reads_back_with_its_author(api: ApiCall, tenants: Tenants) -> None:
    changed = _patch(api, tenants, WS, {"processing": {"filters": {"min_duration_seconds": 10}}}, **{"If-Match": '"0"'})

    assert changed.status == 200, changed.body
    assert changed.body["version"] == 1
    assert changed.body["config"] == {"processing": {"filters": {"min_duration_seconds": 10}}}
    assert changed.body["updated_by"] == {"scope": "workspace", "key_id": tenants.callers["ws_000"].key_id}
    assert changed.headers["ETag"] == '"1"'
    assert api("GET", WS, tenants.callers["ws_000"]).body == changed.body
    assert _minimum(api, tenants) == {"value": 10, "source": {"level": "workspace", "id": "ws_000"}}


def test_null_removes_a_setting_so_that_it_inherits_again(api: ApiCall, tenants: Tenants) -> None:
    _patch(api, tenants, ORG, {"processing": {"filters": {"min_duration_seconds": 20}}}, key="org_00")
    _patch(api, tenants, WS, {"processing": {"filters": {"min_duration_seconds": 5}}})
    assert _minimum(api, tenants)["value"] == 5

    removed = _patch(api, tenants, WS, {"processing": {"filters": {"min_duration_seconds": None}}})

    assert removed.status == 200
    assert removed.body["config"] == {}
    assert _minimum(api, tenants) == {"value": 20, "source": {"level": "organization", "id": "org_00"}}


def test_a_stale_if_match_is_refused_with_412_and_changes_nothing(api: ApiCall, tenants: Tenants) -> None:
    _patch(api, tenants, WS, {"processing": {"filters": {"min_duration_seconds": 10}}})

    stale = _patch(api, tenants, WS, {"processing": {"filters": {"min_duration_seconds": 0}}}, **{"If-Match": '"0"'})

    assert (stale.status, stale.body["code"]) == (412, "precondition_failed")
    assert _minimum(api, tenants)["value"] == 10


def test_an_operator_only_setting_is_refused_naming_it_and_nothing_is_stored(api: ApiCall, tenants: Tenants) -> None:
    reply = _patch(
        api,
        tenants,
        WS,
        {"processing": {"filters": {"min_duration_seconds": 1}, "analysis": {"provider": "bedrock"}}},
    )

    assert (reply.status, reply.body["code"]) == (403, "setting_not_writable")
    assert "processing.analysis.provider" in reply.body["detail"]
    assert api("GET", WS, tenants.callers["ws_000"]).body["version"] == 0


def test_every_customer_setting_is_writable(api: ApiCall, tenants: Tenants) -> None:
    patch = {
        "processing": {
            "filters": {"min_duration_seconds": 3},
            "analysis": {"keywords": ["refund"]},
            "webhooks": {"urls": ["https://hooks.example.com/gensail"]},
        },
        "integrations": {"callrail": {"skip_all_on_ingest": True}},
    }

    reply = _patch(api, tenants, WS, patch)

    assert reply.status == 200, reply.body
    assert reply.body["config"] == patch


def test_an_invalid_value_is_a_400_naming_the_key_and_nothing_is_stored(api: ApiCall, tenants: Tenants) -> None:
    reply = _patch(
        api,
        tenants,
        WS,
        {"processing": {"filters": {"min_duration_seconds": -1}, "analysis": {"keywords": ["ok"]}}},
    )

    assert (reply.status, reply.body["code"]) == (400, "validation_error")
    assert reply.body["errors"][0]["location"] == f"config.{MIN}"
    assert api("GET", WS, tenants.callers["ws_000"]).body["config"] == {}


def test_a_body_that_is_not_a_merge_patch_is_refused(api: ApiCall, tenants: Tenants) -> None:
    caller = tenants.callers["ws_000"]
    as_json = api("PATCH", WS, caller, {"processing": {}})
    not_an_object = _patch(api, tenants, WS, [1, 2])
    not_json = _patch(api, tenants, WS, "{nope")

    assert (as_json.status, as_json.body["code"]) == (415, "unsupported_media_type")
    assert (not_an_object.status, not_an_object.body["code"]) == (400, "validation_error")
    assert (not_json.status, not_json.body["code"]) == (400, "validation_error")


def test_history_lists_changes_newest_first_with_authors_and_pages(api: ApiCall, tenants: Tenants) -> None:
    for minimum in (10, 11, 12):
        _patch(api, tenants, WS, {"processing": {"filters": {"min_duration_seconds": minimum}}})
    caller = tenants.callers["org_00"]

    first = api("GET", f"{WS}/history", caller, query={"limit": "2"})
    rest = api("GET", f"{WS}/history", caller, query={"limit": "2", "cursor": first.body["next_cursor"]})

    assert [entry["version"] for entry in first.body["changes"]] == [3, 2]
    assert first.body["changes"][0]["changes"] == [{"key": MIN, "old": 11, "new": 12}]
    assert first.body["changes"][0]["author"] == {"scope": "workspace", "key_id": tenants.callers["ws_000"].key_id}
    assert [entry["version"] for entry in rest.body["changes"]] == [1]
    assert rest.body["changes"][0]["changes"] == [{"key": MIN, "old": None, "new": 10}]
    assert rest.body["next_cursor"] is None


def test_a_history_cursor_is_bound_to_its_level_and_key(api: ApiCall, tenants: Tenants) -> None:
    for minimum in (10, 11):
        _patch(api, tenants, WS, {"processing": {"filters": {"min_duration_seconds": minimum}}})
    cursor = api("GET", f"{WS}/history", tenants.callers["ws_000"], query={"limit": "1"}).body["next_cursor"]

    replayed = api("GET", f"{WS}/history", tenants.callers["org_00"], query={"limit": "1", "cursor": cursor})

    assert (replayed.status, replayed.body["code"]) == (400, "invalid_cursor")


def test_admin_and_api_share_documents_versions_and_history(api: ApiCall, tenants: Tenants) -> None:
    # Given a customer change, then an operator change of the same document through the admin command
    _patch(api, tenants, WS, {"processing": {"filters": {"min_duration_seconds": 10}}})
    target = ["--table-name", TABLE_NAME, "--config-prefix", CONFIG_PREFIX]
    assert admin([*target, "config", "set", "--level", "workspace", "--id", "ws_000", MIN, "7"]) == 0

    # Then the API reads the operator's version, and the history names both authors
    document = api("GET", WS, tenants.callers["ws_000"]).body
    history = api("GET", f"{WS}/history", tenants.callers["ws_000"]).body["changes"]
    assert (document["version"], document["config"]) == (2, {"processing": {"filters": {"min_duration_seconds": 7}}})
    assert document["updated_by"] == {"scope": "operator", "key_id": None}
    assert [entry["author"]["scope"] for entry in history] == ["operator", "workspace"]
    # And the SSM parameter the worker reads holds the newest version
    parameter = boto3.client("ssm").get_parameter(Name=f"{CONFIG_PREFIX}/workspaces/ws_000")["Parameter"]
    assert parameter["Value"] == '{"processing":{"filters":{"min_duration_seconds":7}}}'


def test_a_level_written_before_versions_existed_reads_as_version_0(api: ApiCall, tenants: Tenants) -> None:
    boto3.client("ssm").put_parameter(
        Name=f"{CONFIG_PREFIX}/organizations/org_00",
        Value='{"processing":{"filters":{"min_duration_seconds":40}}}',
        Type="String",
    )

    document = api("GET", ORG, tenants.callers["org_00"]).body
    changed = _patch(api, tenants, ORG, {"processing": {"analysis": {"keywords": ["x"]}}}, key="org_00")

    assert (document["version"], document["config"]) == (0, {"processing": {"filters": {"min_duration_seconds": 40}}})
    assert changed.body["version"] == 1
    assert changed.body["config"]["processing"]["filters"] == {"min_duration_seconds": 40}
    assert _minimum(api, tenants) == {"value": 40, "source": {"level": "organization", "id": "org_00"}}


def test_effective_settings_name_the_platform_for_defaults(api: ApiCall, tenants: Tenants) -> None:
    assert _minimum(api, tenants) == {"value": 30, "source": {"level": "platform", "id": None}}
