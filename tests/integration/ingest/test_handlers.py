"""The dispatcher and the workspace poller handlers, in-process under moto, against the CallRail sample server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from functions.poller import dispatch as dispatcher
from functions.poller import workspace as poller
from shared.aws import client
from shared.aws import client as aws_client
from shared.callrail.client import longest_page_seconds
from shared.clock import format_timestamp
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.dynamo import from_item
from shared.errors import ConfigError
from shared.ingest.cursors import CursorStore
from shared.ingest.poller import poll_message
from shared.tenants.registry import TenantRegistry
from tests.conftest import Tenants
from tests.integration.ingest.conftest import CONFIG_PREFIX, connect_account, integration, items_with_prefix
from tests.support.aws import TABLE_NAME
from tests.support.callrail_faults import FaultyCallRailServer as CallRailSampleServer
from tests.support.events import FakeContext


@dataclass
class PollerContext(FakeContext):
    """An invocation of the workspace poller, by default a fresh one: its whole timeout (5 minutes) ahead."""

    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def poller_env(aws: None, callrail: CallRailSampleServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    queue_url = boto3.client("sqs").create_queue(QueueName="poll")["QueueUrl"]
    monkeypatch.setenv("CONFIG_PREFIX", CONFIG_PREFIX)
    monkeypatch.setenv("CALLRAIL_API_URL", callrail.url)
    monkeypatch.setenv("POLL_QUEUE_URL", queue_url)
    caches = (poller._polls, dispatcher._settings, dispatcher._configs)
    for cache in caches:
        cache.cache_clear()
    poller.metrics.clear_metrics()  # Powertools keeps one metric set per process
    yield queue_url
    for cache in caches:
        cache.cache_clear()


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:poll",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


def source_ids(workspace_id: str) -> set[str]:
    jobs = (from_item(item) for item in items_with_prefix("JOB#"))
    return {str(job["source_id"]) for job in jobs if job["workspace_id"] == workspace_id}


def test_one_workspaces_429_leaves_another_workspaces_poll_untouched(
    tenants: Tenants, callrail: CallRailSampleServer, poller_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two enabled workspaces with calls, and CallRail answering 429 to the first one's account
    limited, healthy = tenants.workspace(0), tenants.workspace(1)
    connect_account(callrail, limited, "ACCA")
    connect_account(callrail, healthy, "ACCB")
    now = datetime.now(UTC)
    callrail.add_calls("ACCA", 3, at=now - timedelta(minutes=20))
    healthy_calls = callrail.add_calls("ACCB", 4, at=now - timedelta(minutes=20))
    callrail.fail_next("ACCA", status=429)

    # When one batch carries both poll messages
    event = sqs_event(poll_message(limited.workspace_id, now), poll_message(healthy.workspace_id, now))
    response = poller.lambda_handler(event, PollerContext())

    # Then neither message fails: the rate-limited workspace waits for the next cycle, the other is ingested
    assert response == {"batchItemFailures": []}
    assert source_ids(limited.workspace_id) == set()
    assert source_ids(healthy.workspace_id) == {call["id"] for call in healthy_calls}
    cursors = CursorStore(TABLE_NAME, aws_client("dynamodb"))
    assert cursors.read(limited.workspace_id) is None
    assert cursors.read(healthy.workspace_id) == now.replace(microsecond=0)
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (metrics["RateLimitedWorkspaces"], metrics["CallsIngested_queued"]) == ([1.0], [4.0])

    # And the next cycle ingests the rate-limited workspace's calls
    later = now + timedelta(minutes=5)
    response = poller.lambda_handler(sqs_event(poll_message(limited.workspace_id, later)), PollerContext())
    assert response == {"batchItemFailures": []}
    assert len(source_ids(limited.workspace_id)) == 3


def test_an_outage_fails_only_that_workspaces_message(
    tenants: Tenants, callrail: CallRailSampleServer, poller_env: str
) -> None:
    down, healthy = tenants.workspace(0), tenants.workspace(1)
    connect_account(callrail, down, "ACCA")
    connect_account(callrail, healthy, "ACCB")
    now = datetime.now(UTC)
    callrail.add_calls("ACCA", 2, at=now - timedelta(minutes=20))
    callrail.add_calls("ACCB", 2, at=now - timedelta(minutes=20))
    callrail.fail_next("ACCA", status=503, times=3)
    event = sqs_event(poll_message(down.workspace_id, now), poll_message(healthy.workspace_id, now))

    response = poller.lambda_handler(event, PollerContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(source_ids(healthy.workspace_id)) == 2


def test_a_workspace_disabled_since_the_dispatch_is_dropped(
    tenants: Tenants, callrail: CallRailSampleServer, poller_env: str
) -> None:
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, "ACCA", enabled=False)
    callrail.add_calls("ACCA", 2, at=datetime.now(UTC) - timedelta(minutes=20))

    response = poller.lambda_handler(
        sqs_event(poll_message(workspace.workspace_id, datetime.now(UTC)), poll_message("ws_gone", datetime.now(UTC))),
        PollerContext(),
    )

    assert response == {"batchItemFailures": []}
    assert items_with_prefix("JOB#") == []
    assert callrail.request_count("ACCA") == 0


def test_the_dispatcher_sends_one_message_per_enabled_workspace(tenants: Tenants, poller_env: str) -> None:
    # Given partner 0's 4 workspaces and 20 more, enabled through the partner's config
    registry, configs = (
        TenantRegistry(TABLE_NAME, aws_client("dynamodb")),
        ConfigStore(CONFIG_PREFIX, aws_client("ssm")),
    )
    extra = [registry.create_workspace("org_00", f"Extra {n}", f"ws_x{n:02d}") for n in range(20)]
    partner_document = integration("ACCP").model_dump(exclude_defaults=True)
    configs.write_document(ConfigLevel.PARTNER, "ptn_0", {"integrations": {"callrail": partner_document}})
    # ... one of them disabled, one misconfigured, one with a malformed document; partner 1's are not enabled
    configs.write_document(ConfigLevel.WORKSPACE, "ws_000", {"integrations": {"callrail": {"enabled": False}}})
    misplaced_key = {"integrations": {"callrail": {"api_key_parameter": "/elsewhere/key"}}}
    configs.write_document(ConfigLevel.WORKSPACE, "ws_001", misplaced_key)
    boto3.client("ssm").put_parameter(Name=f"{CONFIG_PREFIX}/workspaces/ws_x05", Value="{not json", Type="String")
    requests: list[int] = []
    client("sqs").meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda params, **_: requests.append(len(params["Entries"]))
    )
    scheduled = datetime(2026, 11, 28, 12, 5, tzinfo=UTC)

    # When the schedule fires
    summary = dispatcher.lambda_handler({"time": "2026-11-28T12:05:00Z"}, PollerContext())

    # Then 21 workspaces get one message each, in ceil(21/10) = 3 requests, and the others are reported
    expected = {w.workspace_id for w in tenants.workspaces[:4] + extra} - {"ws_000", "ws_001", "ws_x05"}
    assert requests == [10, 10, 1]
    assert summary["sent"] == 21
    assert summary["requests"] == 3
    assert (summary["disabled"], summary["misconfigured"], summary["invalid_config"]) == (5, 1, 1)
    bodies = []
    sqs = boto3.client("sqs")
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=poller_env, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        bodies += [json.loads(message["Body"]) for message in messages]
    assert sorted(body["workspace_id"] for body in bodies) == sorted(expected)
    assert {body["window_end"] for body in bodies} == {format_timestamp(scheduled)}


def test_a_workspace_document_cannot_lift_its_partners_daily_cap(
    tenants: Tenants, callrail: CallRailSampleServer, poller_env: str
) -> None:
    # Given a partner that may queue 5 calls a day, and two of its workspaces with 6 new calls each
    configs = ConfigStore(CONFIG_PREFIX, aws_client("ssm"))
    capped, raised = tenants.workspace(2), tenants.workspace(0)
    assert capped.partner_id == raised.partner_id
    configs.write_document(
        ConfigLevel.PARTNER, capped.partner_id, {"integrations": {"callrail": {"max_total_calls": 5}}}
    )
    connect_account(callrail, capped, "ACCA")
    connect_account(callrail, raised, "ACCB")
    now = datetime.now(UTC)
    callrail.add_calls("ACCA", 6, at=now - timedelta(minutes=20))
    callrail.add_calls("ACCB", 6, at=now - timedelta(minutes=20))

    # When one workspace's document tries to set max_total_calls 100, it is refused, naming the parameter
    document = configs.read_document(ConfigLevel.WORKSPACE, raised.workspace_id)
    document["integrations"]["callrail"]["max_total_calls"] = 100
    parameter = f"{CONFIG_PREFIX}/workspaces/{raised.workspace_id}"
    with pytest.raises(ConfigError, match=f"{parameter}: integrations.callrail.max_total_calls is a partner-wide"):
        configs.write_document(ConfigLevel.WORKSPACE, raised.workspace_id, document)
    # ... and written around the config store all the same, it is not dispatched
    boto3.client("ssm").put_parameter(Name=parameter, Value=json.dumps(document), Type="String", Overwrite=True)
    summary = dispatcher.lambda_handler({"time": format_timestamp(now)}, PollerContext())
    assert (summary["sent"], summary["invalid_config"]) == (1, 1)

    # When both workspaces are polled all the same, the capped one first
    response = poller.lambda_handler(sqs_event(poll_message(capped.workspace_id, now)), PollerContext())
    # (a malformed config fails the invocation of its one message: SQS retries it, then dead-letters it)
    with pytest.raises(BatchProcessingError):
        poller.lambda_handler(sqs_event(poll_message(raised.workspace_id, now)), PollerContext())

    # Then the partner queued 5 calls in all: the raising workspace was not polled with its own cap
    assert response == {"batchItemFailures": []}
    jobs = [from_item(item) for item in items_with_prefix("JOB#")]
    assert sum(job["status"] == "queued" for job in jobs) == 5
    assert source_ids(raised.workspace_id) == set()


def test_the_poller_reads_no_secret_outside_the_callrail_keys_path(
    tenants: Tenants, callrail: CallRailSampleServer, poller_env: str
) -> None:
    # Given a workspace whose api_key_parameter names a webhook signing secret
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, "ACCA", api_key_parameter="/gensail/secrets/webhooks/demo")
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/gensail/secrets/webhooks/demo", Value="signing-secret", Type="SecureString")
    callrail.add_calls("ACCA", 2, at=datetime.now(UTC) - timedelta(minutes=20))
    read: list[str] = []
    client("ssm").meta.events.register(
        "before-parameter-build.ssm.GetParameter", lambda params, **_: read.append(params["Name"])
    )

    # When it is dispatched and polled
    summary = dispatcher.lambda_handler({"time": format_timestamp(datetime.now(UTC))}, PollerContext())
    response = poller.lambda_handler(
        sqs_event(poll_message(workspace.workspace_id, datetime.now(UTC))), PollerContext()
    )

    # Then the dispatcher reports it misconfigured, the poller drops it, and the secret is never read
    assert (summary["sent"], summary["misconfigured"]) == (0, 1)
    assert response == {"batchItemFailures": []}
    assert read == []
    assert callrail.request_count("ACCA") == 0


def test_the_poller_starts_no_page_fetch_it_may_not_finish(
    tenants: Tenants, callrail: CallRailSampleServer, poller_env: str
) -> None:
    # Given a workspace with new calls, and an invocation with a little more time left than one page can take
    # (every attempt timing out on connect and read, with the backoffs)
    workspace = tenants.workspace(0)
    connect_account(callrail, workspace, "ACCA")
    now = datetime.now(UTC)
    calls = callrail.add_calls("ACCA", 3, at=now - timedelta(minutes=20))
    late = PollerContext(remaining_ms=round(longest_page_seconds() * 1000) + 1_000)

    # When it polls
    response = poller.lambda_handler(sqs_event(poll_message(workspace.workspace_id, now)), late)

    # Then it asks CallRail nothing, since a page and the cursor write might not finish before the timeout; the
    # message is done and the next poll (here a fresh invocation) reads the calls
    assert response == {"batchItemFailures": []}
    assert callrail.request_count("ACCA") == 0
    assert CursorStore(TABLE_NAME, aws_client("dynamodb")).read(workspace.workspace_id) is None
    poller.lambda_handler(sqs_event(poll_message(workspace.workspace_id, now)), PollerContext())
    assert source_ids(workspace.workspace_id) == {call["id"] for call in calls}
