"""Ingestion figures: DynamoDB write requests per ingested call, and calls ingested per second against the
CallRail sample server on loopback (10,000 calls, pages of 250) with DynamoDB in moto."""

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
from infra.local.callrail_sample import CallRailSampleServer
from shared.aws import reset_clients
from shared.callrail.client import CallRailClient
from shared.config.model import CallRailIntegration, EffectiveConfig, Integrations
from shared.ingest.cursors import CursorStore
from shared.ingest.jobs import CallJobStore
from shared.ingest.poller import poll_workspace
from shared.tenants.registry import TenantRegistry
from tests.support.aws import TABLE_NAME, create_table

CALLS = int(os.environ.get("BENCH_INGEST_CALLS", "10000"))
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
        registry = TenantRegistry(TABLE_NAME)
        registry.create_partner("Bench", "ptn_b")
        registry.create_organization("ptn_b", "Bench org", "org_b")
        workspace = registry.create_workspace("org_b", "Bench ws", "ws_b")
        integration = CallRailIntegration(
            enabled=True,
            account_id="ACCBENCH",
            api_key_parameter="/gensail/secrets/callrail/ACCBENCH",
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
                CursorStore(TABLE_NAME),
                CallJobStore(TABLE_NAME),
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
