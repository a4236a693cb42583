"""Requeue batches for tests and benchmarks: a batch item and its workspaces' locks, as the API's create leaves
them, and the runner wired to the table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.access import ScopeKind
from shared.aws import client as aws_client
from shared.batches.completion import BatchFinisher
from shared.batches.models import BatchSelection, BatchStatus, CreatedBy, RequeueBatch, new_batch_id
from shared.batches.runner import BatchRunner, PageResult
from shared.batches.runs import BatchRuns
from shared.batches.selection import BatchSelector
from shared.batches.store import BatchStore
from shared.batches.throttle import RequeueThrottle
from shared.clock import now_iso
from shared.config.heads import ConfigHeads
from shared.config.hierarchy import ConfigStore
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry
from tests.support.aws import CONFIG_PREFIX, TABLE_NAME


def store_batch(
    partner_id: str,
    workspace_ids: list[str],
    *,
    dry_run: bool = False,
    scope: ScopeKind = ScopeKind.WORKSPACE,
    key_id: str = "key_test",
    table: str = TABLE_NAME,
    **selection: Any,
) -> RequeueBatch:
    """A ``pending`` batch created through the batch store, as the API's create does (locks, members, item)."""
    db = aws_client("dynamodb")
    registry = TenantRegistry(table, db)
    organizations = {found.organization_id for ws in workspace_ids if (found := registry.get_workspace(ws))}
    batch = RequeueBatch(
        batch_id=new_batch_id(),
        partner_id=partner_id,
        organization_ids=sorted(organizations),
        dry_run=dry_run,
        selection=BatchSelection(workspace_ids=workspace_ids, **selection),
        created_at=now_iso(),
        created_by=CreatedBy(scope=scope, key_id=key_id),
    )
    return BatchStore(table, db).create(batch)


class FakeClock:
    """Epoch seconds that move only when told to: the state machine's waits, without sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def batch_runner(clock: Callable[[], float] | None = None, jobs: JobRepository | None = None) -> BatchRunner:
    """The runner over the test table and config, with ``clock`` (epoch seconds; a ``FakeClock`` by default) for
    its throttle and pages."""
    db = aws_client("dynamodb")
    extra: dict[str, Any] = {"clock": clock or FakeClock()}
    return BatchRunner(
        runs=BatchRuns(TABLE_NAME, db),
        selector=BatchSelector(TABLE_NAME, db),
        jobs=jobs or JobRepository(TABLE_NAME, db),
        config=ConfigStore(
            CONFIG_PREFIX, aws_client("ssm"), max_age_seconds=60, heads=ConfigHeads(TABLE_NAME, db).documents
        ),
        throttle=RequeueThrottle(TABLE_NAME, db, **extra),
        **extra,
    )


def run_page(runner: BatchRunner, batch: RequeueBatch) -> PageResult:
    """One ``Page`` task, then its ``Wait`` on the runner's ``FakeClock``."""
    result = runner.run_page(batch.batch_id, batch.partner_id)
    if isinstance(runner.clock, FakeClock):
        runner.clock.advance(result.wait_seconds)
    return result


def finish(batch: RequeueBatch, status: BatchStatus, table: str = TABLE_NAME) -> dict[str, Any]:
    """The ``Finish`` task: the final status, the locks released; returns the completion event."""
    db = aws_client("dynamodb")
    return BatchFinisher(BatchRuns(table, db), BatchStore(table, db)).finish(batch.batch_id, status)


def run_to_end(runner: BatchRunner, batch: RequeueBatch, max_pages: int = 1_000) -> tuple[PageResult, int]:
    """Run pages until the batch is done, then finish it, as the state machine does: each ``Wait`` moves the
    runner's ``FakeClock`` on (a real clock is not slept on). Returns the last page's result and how many times
    ``Page`` ran."""
    for count in range(1, max_pages + 1):
        result = run_page(runner, batch)
        if result.done:
            assert result.outcome is not None
            finish(batch, result.outcome)
            return result, count
    raise AssertionError(f"batch {batch.batch_id} not done after {max_pages} pages")


def stored_batch(batch_id: str, table: str = TABLE_NAME) -> RequeueBatch:
    found = BatchRuns(table, aws_client("dynamodb")).get(batch_id)
    assert found is not None
    return found
