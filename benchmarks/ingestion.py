"""Ingestion figures: DynamoDB write requests per ingested call, and calls ingested per second against the
CallRail sample server on loopback (10,000 calls, pages of 250) with DynamoDB in moto; and one dispatch cycle over
1,000 CallRail-enabled workspaces (AWS requests and seconds)."""

from __future__ import annotations

import contextlib
import os
import time
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.counting import counting_requests
from infra.sample.callrail import CallRailSampleServer
from shared.aws import client as aws_client
from shared.aws import reset_clients
from shared.callrail.client import CallRailClient
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.config.model import CallRailIntegration, EffectiveConfig, Integrations
from shared.ingest.cursors import CursorStore
from shared.ingest.jobs import CallJobStore
from shared.ingest.poller import dispatch, poll_workspace
from shared.parameters import ParameterPaths
from shared.tenants.registry import TenantRegistry
from tests.support.aws import TABLE_NAME, create_table

CALLS = int(os.environ.get("BENCH_INGEST_CALLS", "10000"))
DISPATCH_WORKSPACES = int(os.environ.get("BENCH_DISPATCH_WORKSPACES", "1000"))
CONFIG_PREFIX = ParameterPaths.for_stage("bench").config
CALLRAIL_KEYS = ParameterPaths.for_stage("bench").callrail_keys
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@contextlib.contextmanager
def without_moto_transaction_backups() -> Iterator[None]:
    """moto backs up whole tables for every transaction item (its rollback), so its cost grows with the table and
    10,000 calls would take hours; even the local runtime's per-item backup copies the table's index per call.
    No transaction fails in this run (no limits, no duplicates), so the backup is skipped: the figure measures the
    poller, the client and the paging, not moto's rollback. Benchmark-only."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    # moto's module imports `copy` and calls copy.deepcopy(table): swap that module global for the run.
    real_copy: Any = vars(models)["copy"]

    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else real_copy.deepcopy(value, memo)

    setattr(models, "copy", types.SimpleNamespace(deepcopy=deepcopy))  # noqa: B010
    try:
        yield
    finally:
        setattr(models, "copy", real_copy)  # noqa: B010


def ingestion_figures() -> dict[str, Any]:
    end = datetime.now(UTC).replace(microsecond=0)
    with CallRailSampleServer() as callrail, mock_aws(), without_moto_transaction_backups():
        callrail.add_account(
            "ACCBENCH", "bench-key", calls=CALLS, end=end - timedelta(minutes=1), span=timedelta(hours=20)
        )
        reset_clients()
        create_table(boto3.client("dynamodb"))
        registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
        registry.create_partner("Bench", "ptn_b")
        registry.create_organization("ptn_b", "Bench org", "org_b")
        workspace = registry.create_workspace("org_b", "Bench ws", "ws_b")
        integration = CallRailIntegration(
            enabled=True,
            account_id="ACCBENCH",
            api_key_parameter=f"{CALLRAIL_KEYS}/ACCBENCH",
            max_calls_per_workspace=CALLS,
            max_total_calls=CALLS,
        )
        config = EffectiveConfig(integrations=Integrations(callrail=integration))
        with CallRailClient(callrail.url, "bench-key") as client, counting_requests() as calls:
            started = time.perf_counter()
            report = poll_workspace(
                workspace,
                config,
                client,
                CursorStore(TABLE_NAME, aws_client("dynamodb")),
                CallJobStore(TABLE_NAME, aws_client("dynamodb")),
                window_end=end,
            )
            elapsed = time.perf_counter() - started
        pages = callrail.request_count("ACCBENCH")
        reset_clients()
    ingested = sum(report.outcomes.values())
    writes = {op: n for op, n in calls.items() if op.split(".")[1] in DYNAMODB_WRITES and op.startswith("dynamodb.")}
    return {
        "calls": CALLS,
        "ingested": ingested,
        "outcomes": {str(outcome): count for outcome, count in report.outcomes.items()},
        "callrail_pages": pages,
        "dynamodb_write_requests": writes,
        "dynamodb_write_requests_per_ingested_call": round(sum(writes.values()) / max(ingested, 1), 3),
        "dynamodb_requests_by_operation": {op: n for op, n in calls.items() if op.startswith("dynamodb.")},
        "calls_ingested_per_second": round(ingested / elapsed, 1),
        "note": "each queued call is one TransactWriteItems of 4 items (job, dedupe, two day counters); moto's "
        "rollback backup is skipped (no transaction fails here; see without_moto_transaction_backups)",
    }


def dispatch_figures() -> dict[str, Any]:
    """One dispatch cycle over ``DISPATCH_WORKSPACES`` enabled workspaces (10 per organization, 10 organizations
    per partner), each with its own config document naming its CallRail account, as in production."""
    with mock_aws():
        reset_clients()
        create_table(boto3.client("dynamodb"))
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="polls")["QueueUrl"]
        registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
        configs = ConfigStore(CONFIG_PREFIX, aws_client("ssm"))
        for index in range(DISPATCH_WORKSPACES):
            partner, organization = f"ptn_{index // 100}", f"org_{index // 10}"
            if index % 100 == 0:
                registry.create_partner(f"Partner {partner}", partner)
            if index % 10 == 0:
                registry.create_organization(partner, f"Organization {organization}", organization)
            workspace = f"ws_{index}"
            registry.create_workspace(organization, f"Workspace {index}", workspace)
            account = f"ACC{index:05d}"
            key = f"{CALLRAIL_KEYS}/{account}"
            integration = {"enabled": True, "account_id": account, "api_key_parameter": key}
            configs.write_document(ConfigLevel.WORKSPACE, workspace, {"integrations": {"callrail": integration}})
        dispatcher_configs = ConfigStore(
            CONFIG_PREFIX, aws_client("ssm")
        )  # a cold cache, as in a new dispatcher process
        with counting_requests() as calls:
            started = time.perf_counter()
            report = dispatch(registry, dispatcher_configs, sqs, queue_url, datetime.now(UTC))
            elapsed = time.perf_counter() - started
        reset_clients()
    return {
        "workspaces": DISPATCH_WORKSPACES,
        "sent_to_the_poll_queue": report.sent,
        "left_out": len(report.misconfigured) + len(report.invalid_config),
        "aws_requests": sum(calls.values()),
        "aws_requests_by_operation": dict(calls),
        "seconds_under_moto": round(elapsed, 2),
        "note": "the dispatcher's timeout is 120 s; every request here is one round trip in the cloud",
    }
