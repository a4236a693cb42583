"""Config calls against a stand-in of the config API's contract (issue 7), with httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from gensail import AsyncGensail, Gensail, RetryPolicy
from gensail import errors as sdk_errors

WORKSPACE = "ws_main"
DOCUMENT = {
    "level": "workspace",
    "id": WORKSPACE,
    "config": {"processing": {"filters": {"min_duration_seconds": 10}}},
    "version": 3,
    "updated_at": "2026-01-01T00:00:00Z",
    "updated_by": {"scope": "workspace", "key_id": "key_1"},
}
EFFECTIVE = {
    "workspace_id": WORKSPACE,
    "settings": {
        "processing.filters.min_duration_seconds": {"value": 10, "source": {"level": "workspace", "id": WORKSPACE}},
        "integrations.callrail.skip_all_on_ingest": {"value": False, "source": {"level": "platform", "id": None}},
    },
}
PREVIEW = {
    "workspace_id": WORKSPACE,
    "filters_before": {"min_duration_seconds": {"value": 30, "source": {"level": "platform", "id": None}}},
    "filters_after": {"min_duration_seconds": {"value": 5, "source": {"level": "workspace", "id": WORKSPACE}}},
    "skipped_jobs": 9,
    "would_pass": 4,
    "would_stay_skipped": 5,
    "by_reason": [
        {
            "reason": "duration_below_minimum",
            "skipped": 5,
            "would_pass": 4,
            "would_stay_skipped": 1,
            "sample_job_ids": ["1", "2", "3", "4"],
        }
    ],
}


def _entry(version: int) -> dict[str, Any]:
    return {
        "version": version,
        "at": f"2026-01-0{version}T00:00:00Z",
        "author": {"scope": "operator", "key_id": None} if version == 1 else {"scope": "workspace", "key_id": "k"},
        "changes": [{"key": "processing.filters.min_duration_seconds", "old": None, "new": 40 - version}],
    }


class ConfigApi:
    """Answers the config routes as issue 7 specifies them, and records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.version = 3

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = (request.method, request.url.path)
        if route == ("GET", f"/api/v1/config/workspaces/{WORKSPACE}/effective"):
            return httpx.Response(200, json=EFFECTIVE)
        if route == ("POST", f"/api/v1/config/workspaces/{WORKSPACE}/preview"):
            return httpx.Response(200, json=PREVIEW)
        if route[1] == f"/api/v1/config/workspaces/{WORKSPACE}/history":
            return self._history(request)
        if route[1] == f"/api/v1/config/workspaces/{WORKSPACE}":
            return self._document(request)
        return httpx.Response(403, json=_problem(403, "forbidden"))

    def _document(self, request: httpx.Request) -> httpx.Response:
        etag = f'"{self.version}"'
        if request.method == "PATCH":
            if request.headers.get("if-match") not in (None, etag):
                return httpx.Response(412, json=_problem(412, "precondition_failed"))
            self.version += 1
            etag = f'"{self.version}"'
        return httpx.Response(200, json={**DOCUMENT, "version": self.version}, headers={"ETag": etag})

    def _history(self, request: httpx.Request) -> httpx.Response:
        versions = {None: ([3, 2], "c2"), "c2": ([1], None)}
        page, next_cursor = versions[request.url.params.get("cursor")]
        return httpx.Response(200, json={"changes": [_entry(v) for v in page], "next_cursor": next_cursor})


def _problem(status: int, code: str) -> dict[str, Any]:
    return {"type": f"https://x/{code}", "title": code, "status": status, "detail": code, "code": code}


@pytest.fixture
def api() -> ConfigApi:
    return ConfigApi()


@pytest.fixture
def client(api: ConfigApi) -> Gensail:
    return Gensail(
        "gsk_test", "https://api.test", transport=httpx.MockTransport(api), retry=RetryPolicy(max_attempts=1)
    )


def test_effective_settings_name_their_source(client: Gensail) -> None:
    effective = client.config.effective(WORKSPACE)

    setting = effective.settings["processing.filters.min_duration_seconds"]
    assert (setting.value, setting.source.level, setting.source.id) == (10, "workspace", WORKSPACE)
    assert effective.settings["integrations.callrail.skip_all_on_ingest"].source.level == "platform"


def test_get_then_patch_with_if_match(client: Gensail, api: ConfigApi) -> None:
    # Given the workspace's document and its ETag
    document = client.config.get("workspace", WORKSPACE)
    assert (document.version, document.etag) == (3, '"3"')

    # When it is patched with that ETag, and again with the now stale one
    patch = {"processing": {"filters": {"min_duration_seconds": None}}}
    changed = client.config.patch("workspace", WORKSPACE, patch, if_match=document.etag)
    with pytest.raises(sdk_errors.PreconditionFailed) as stale:
        client.config.patch("workspace", WORKSPACE, patch, if_match=document.etag)

    # Then the first is a JSON Merge Patch that lands (null kept: it removes the key), the second a 412
    sent = api.requests[1]
    assert (sent.method, sent.headers["content-type"], sent.headers["if-match"]) == (
        "PATCH",
        "application/merge-patch+json",
        '"3"',
    )
    assert json.loads(sent.content) == patch
    assert (changed.version, changed.etag) == (4, '"4"')
    assert stale.value.status == 412


def test_patch_without_if_match_sends_none(client: Gensail, api: ConfigApi) -> None:
    client.config.patch("workspace", WORKSPACE, {"processing": {"analysis": {"keywords": ["refund"]}}})

    assert "if-match" not in api.requests[0].headers


def test_preview_sends_the_level_and_patch(client: Gensail, api: ConfigApi) -> None:
    patch = {"processing": {"filters": {"min_duration_seconds": 5}}}

    preview = client.config.preview(WORKSPACE, patch)
    at_organization = client.config.preview(WORKSPACE, patch, level="organization", tenant_id="org_1")

    assert json.loads(api.requests[0].content) == {"level": "workspace", "id": WORKSPACE, "patch": patch}
    assert json.loads(api.requests[1].content) == {"level": "organization", "id": "org_1", "patch": patch}
    assert (preview.would_pass, preview.by_reason[0].sample_job_ids) == (4, ["1", "2", "3", "4"])
    assert at_organization.filters_after["min_duration_seconds"].value == 5


def test_preview_at_another_level_needs_its_id(client: Gensail) -> None:
    with pytest.raises(ValueError, match="organization"):
        client.config.preview(WORKSPACE, {}, level="organization")


def test_history_reads_every_page(client: Gensail, api: ConfigApi) -> None:
    versions = [entry.version for entry in client.config.history("workspace", WORKSPACE, limit=2)]

    assert versions == [3, 2, 1]
    assert [request.url.params.get("cursor") for request in api.requests] == [None, "c2"]
    assert api.requests[0].url.params["limit"] == "2"


def test_foreign_levels_are_forbidden(client: Gensail) -> None:
    with pytest.raises(sdk_errors.Forbidden):
        client.config.get("organization", "org_other")


def test_async_config_calls(api: ConfigApi) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return api(request)

    async def calls() -> tuple[int, list[int], int]:
        transport = httpx.MockTransport(handler)
        async with AsyncGensail("gsk_test", "https://api.test", transport=transport) as client:
            document = await client.config.patch("workspace", WORKSPACE, {"a": 1}, if_match='"3"')
            history = [entry.version async for entry in client.config.history("workspace", WORKSPACE)]
            preview = await client.config.preview(WORKSPACE, {"a": 1})
            await client.config.get("workspace", WORKSPACE)
            await client.config.effective(WORKSPACE)
            return document.version, history, preview.skipped_jobs

    assert asyncio.run(calls()) == (4, [3, 2, 1], 9)
    assert [r.method for r in api.requests] == ["PATCH", "GET", "GET", "POST", "GET", "GET"]
