"""Concurrent pollers against a single-threaded moto server: the day limits stay exact and no call is doubled."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest

from shared.aws import client as aws_client
from shared.callrail.client import CallRecord
from shared.config.model import EffectiveConfig
from shared.dynamo import from_item
from shared.ingest.cursors import CursorStore
from shared.ingest.jobs import CallJobStore
from shared.ingest.poller import PollReport, poll_workspace
from shared.tenants.registry import TenantRegistry, Workspace
from tests.integration.ingest.conftest import ListClient, effective, items_with_prefix, make_calls
from tests.support.aws import TABLE_NAME

POLLERS = 6


def two_workspaces() -> tuple[Workspace, Workspace]:
    registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
    registry.create_partner("Race partner", "ptn_r")
    registry.create_organization("ptn_r", "Race org", "org_r")
    return registry.create_workspace("org_r", "Race A", "ws_ra"), registry.create_workspace("org_r", "Race B", "ws_rb")


def statuses() -> Counter[tuple[str, str, str | None]]:
    return Counter(
        (str(job["workspace_id"]), str(job["status"]), job.get("skipped_reason"))
        for job in (from_item(item) for item in items_with_prefix("JOB#"))
    )


def counter(scope: str, tenant_id: str) -> int:
    day = datetime.now(UTC).date().isoformat()
    key = {"pk": {"S": f"COUNTER#calls#{scope}#{tenant_id}#{day}"}, "sk": {"S": "COUNTER"}}
    return int(boto3.client("dynamodb").get_item(TableName=TABLE_NAME, Key=key)["Item"]["count"]["N"])


def _poll(workspace: Workspace, config: EffectiveConfig, calls_seen: list[CallRecord]) -> PollReport:
    """One poller's run over the calls it happened to see."""
    return poll_workspace(
        workspace,
        config,
        ListClient(calls_seen),
        CursorStore(TABLE_NAME, aws_client("dynamodb")),
        CallJobStore(TABLE_NAME, aws_client("dynamodb")),
        window_end=datetime.now(UTC),
    )


@pytest.mark.slow
def test_concurrent_pollers_of_one_workspace_queue_exactly_the_limit(moto_server: str) -> None:
    # Given 24 calls and pollers that each see an overlapping slice of them, for a workspace limited to 7 a day
    workspace, _ = two_workspaces()
    calls = make_calls(24)
    slices = [calls[start : start + 12] for start in range(0, 15, 3)] + [calls]
    config = effective("ACC1", max_calls_per_workspace=7)

    # When they all ingest at once
    with ThreadPoolExecutor(max_workers=POLLERS) as pool:
        reports = list(pool.map(lambda seen: _poll(workspace, config, seen), slices))

    # Then every call has one job, exactly 7 of them queued, and the counter says 7
    assert len(items_with_prefix("JOB#")) == 24
    assert len(items_with_prefix("SOURCE#callrail#")) == 24
    assert statuses() == {("ws_ra", "queued", None): 7, ("ws_ra", "skipped", "rate_limit"): 17}
    assert counter("workspace", "ws_ra") == 7
    assert sum(report.stored for report in reports) == sum(len(seen) for seen in slices)


@pytest.mark.slow
def test_concurrent_pollers_of_two_workspaces_share_the_partner_limit(moto_server: str) -> None:
    # Given two workspaces of one partner limited to 9 calls a day together, each with 10 calls polled twice at once
    first, second = two_workspaces()
    config = effective("ACC1", max_total_calls=9)
    work = [(first, make_calls(10, prefix="A")), (second, make_calls(10, prefix="B"))] * 2

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        list(pool.map(lambda job: _poll(job[0], config, job[1]), work))

    by_status = statuses()
    assert sum(count for (_, status, _), count in by_status.items() if status == "queued") == 9
    assert sum(by_status.values()) == 20
    assert counter("partner", "ptn_r") == 9
    assert counter("workspace", "ws_ra") + counter("workspace", "ws_rb") == 9
