"""Twenty clients PATCH one config document with the same If-Match at once (single-threaded moto server)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from shared.access import Caller, ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from tests.integration.api.conftest import ApiReply
from tests.support.aws import CONFIG_PREFIX, TABLE_NAME
from tests.support.events import FakeContext, api_event
from tests.support.factories import create_workspace

CLIENTS = 20
PATH = "/api/v1/config/workspaces/ws_r"


@pytest.fixture
def workspace_key(moto_server: str) -> Iterator[Caller]:
    """The key of a new workspace ``ws_r``, with the API handler's services built afresh against the server."""
    from functions.api import handler

    create_workspace("r", "Race")
    _, record = ApiKeyRepository(TABLE_NAME, aws_client("dynamodb")).create(
        ScopeKind.WORKSPACE, "ws_r", "race", tenant_exists=True
    )
    handler._service.cache_clear()
    handler.config_services.cache_clear()
    yield record.caller()
    handler._service.cache_clear()
    handler.config_services.cache_clear()


def _merge_patch(caller: Caller, body: dict[str, object], **headers: str) -> dict[str, Any]:
    """A PATCH of the workspace's document: ``body`` as a merge patch, with ``headers`` besides."""
    event = api_event("PATCH", PATH, caller, body)
    for name, value in {"Content-Type": "application/merge-patch+json", **headers}.items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return event


@pytest.mark.slow
def test_concurrent_patches_with_one_if_match_have_exactly_one_winner(workspace_key: Caller) -> None:
    from functions.api import handler

    # Given a workspace whose document is at version 0, and its key

    def patch(minimum: int) -> ApiReply:
        body: dict[str, object] = {"processing": {"filters": {"min_duration_seconds": minimum}}}
        event = _merge_patch(workspace_key, body, **{"If-Match": '"0"'})
        response = handler.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
        return ApiReply(status=response["statusCode"], body=json.loads(response["body"]), headers={})

    # When twenty clients change it at the same moment, each to its own value
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        replies = list(pool.map(patch, range(1, CLIENTS + 1)))

    # Then exactly one succeeds and the others are told their If-Match is stale
    assert Counter(reply.status for reply in replies) == {200: 1, 412: CLIENTS - 1}
    (winner,) = [reply.body for reply in replies if reply.status == 200]
    assert winner["version"] == 1
    # And the history shows that one change, and SSM holds the winner's value
    history = handler.lambda_handler(
        api_event("GET", f"{PATH}/history", workspace_key),
        FakeContext(),  # type: ignore[arg-type]
    )
    changes = json.loads(history["body"])["changes"]
    assert [entry["version"] for entry in changes] == [1]
    stored = boto3.client("ssm").get_parameter(Name=f"{CONFIG_PREFIX}/workspaces/ws_r")["Parameter"]["Value"]
    assert json.loads(stored) == winner["config"]


@pytest.mark.slow
def test_concurrent_patches_without_if_match_are_all_kept(workspace_key: Caller) -> None:
    from functions.api import handler

    # Given a workspace and its key
    patches = [
        {"processing": {"filters": {"min_duration_seconds": 7}}},
        {"processing": {"analysis": {"keywords": ["refund"]}}},
        {"processing": {"webhooks": {"urls": ["https://hooks.example.com/a"]}}},
        {"integrations": {"callrail": {"skip_all_on_ingest": True}}},
    ]

    def patch(body: dict[str, object]) -> int:
        response = handler.lambda_handler(_merge_patch(workspace_key, body), FakeContext())  # type: ignore[arg-type]
        return int(response["statusCode"])

    # When four clients each change another setting at the same moment, without If-Match
    with ThreadPoolExecutor(max_workers=len(patches)) as pool:
        statuses = list(pool.map(patch, patches))

    # Then no change is lost: the document and its SSM copy hold all four, in four versions
    assert statuses == [200] * len(patches)
    stored = json.loads(
        boto3.client("ssm").get_parameter(Name=f"{CONFIG_PREFIX}/workspaces/ws_r")["Parameter"]["Value"]
    )
    assert stored == {
        "processing": {
            "filters": {"min_duration_seconds": 7},
            "analysis": {"keywords": ["refund"]},
            "webhooks": {"urls": ["https://hooks.example.com/a"]},
        },
        "integrations": {"callrail": {"skip_all_on_ingest": True}},
    }
    document = handler.lambda_handler(api_event("GET", PATH, workspace_key), FakeContext())  # type: ignore[arg-type]
    assert json.loads(document["body"])["version"] == len(patches)
