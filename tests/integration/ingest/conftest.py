"""Ingestion under moto, against the CallRail sample server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from shared.aws import client as aws_client
from shared.callrail.client import CallRailClient, CallRecord, InvalidCall
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.config.model import CallRailIntegration, EffectiveConfig, Integrations
from shared.ingest.cursors import CursorStore
from shared.ingest.jobs import CallJobStore
from shared.tenants.registry import Workspace
from tests.support.aws import TABLE_NAME
from tests.support.callrail_faults import FaultyCallRailServer as CallRailSampleServer

CONFIG_PREFIX = "/gensail/config"
SECRETS_PREFIX = "/gensail/secrets/callrail/"


@pytest.fixture
def callrail() -> Iterator[CallRailSampleServer]:
    with CallRailSampleServer() as server:
        yield server


def integration(account_id: str = "ACC1", **settings: Any) -> CallRailIntegration:
    fields: dict[str, Any] = {
        "enabled": True,
        "account_id": account_id,
        "api_key_parameter": f"{SECRETS_PREFIX}{account_id}",
    }
    return CallRailIntegration(**{**fields, **settings})


def effective(account_id: str = "ACC1", **settings: Any) -> EffectiveConfig:
    return EffectiveConfig(integrations=Integrations(callrail=integration(account_id, **settings)))


def api_key(account_id: str) -> str:
    return f"sample-key-{account_id}"


def connect_account(
    server: CallRailSampleServer, workspace: Workspace, account_id: str, *, write_config: bool = True, **settings: Any
) -> None:
    """A sample account with no calls yet, its key in SSM and (optionally) the workspace's config pointing at it."""
    server.add_account(account_id, api_key(account_id), calls=0, transcriptions=True)
    name = f"{SECRETS_PREFIX}{account_id}"
    boto3.client("ssm").put_parameter(Name=name, Value=api_key(account_id), Type="SecureString", Overwrite=True)
    if write_config:
        document = integration(account_id, **settings).model_dump(exclude_defaults=True)
        ConfigStore(CONFIG_PREFIX, aws_client("ssm")).write_document(
            ConfigLevel.WORKSPACE, workspace.workspace_id, {"integrations": {"callrail": document}}
        )


def sample_client(
    server: CallRailSampleServer,
    account_id: str,
    *,
    per_page: int = 250,
    after_record: Callable[[int], None] | None = None,
) -> CallRailClient:
    """The real client against the sample server; ``per_page`` and a hook after each record for paging tests."""

    class Client(CallRailClient):
        def iter_calls(self, *args: Any, **kwargs: Any) -> Iterator[CallRecord | InvalidCall]:
            for index, record in enumerate(super().iter_calls(*args, **{**kwargs, "per_page": per_page}), start=1):
                yield record
                if after_record is not None:
                    after_record(index)

    return Client(server.url, api_key(account_id), backoff_seconds=0, sleep=lambda _: None)


class ListClient:
    """A stand-in for the CallRail client that serves a fixed list of calls (for the race tests)."""

    def __init__(self, calls: list[CallRecord]) -> None:
        self._calls = sorted(calls, key=lambda call: call.start_time)

    def iter_calls(
        self, account_id: str, start: datetime, end: datetime, *, company_id: str | None = None
    ) -> Iterator[CallRecord | InvalidCall]:
        yield from (call for call in self._calls if start <= call.start_time <= end)


def make_calls(n: int, *, prefix: str = "CAL", minutes_ago: int = 60) -> list[CallRecord]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return [
        CallRecord(
            id=f"{prefix}{index:05d}",
            duration=30 + index,
            start_time=start + timedelta(seconds=index),
            answered=True,
            direction="inbound",
            recording=f"https://api.callrail.com/v3/a/ACC1/calls/{prefix}{index:05d}/recording.json",
            customer_phone_number="+15555550101",
            tracking_phone_number="+15555550150",
            company_id="COM1",
        )
        for index in range(n)
    ]


def items_with_prefix(prefix: str) -> list[dict[str, Any]]:
    """Every item whose partition key starts with ``prefix`` (a full scan: small test tables only)."""
    paginator = boto3.client("dynamodb").get_paginator("scan")
    return [
        item
        for page in paginator.paginate(
            TableName=TABLE_NAME,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": prefix}},
        )
        for item in page["Items"]
    ]


def stores() -> tuple[CursorStore, CallJobStore]:
    return CursorStore(TABLE_NAME, aws_client("dynamodb")), CallJobStore(TABLE_NAME, aws_client("dynamodb"))
