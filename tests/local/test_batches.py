"""Requeue batches on the local runtime, from the synthesized template: created through the API, the starter on the
stream, the batch state machine executed by moto with the batch functions in-process, the worker and the pipeline
after each requeue. (A cancel part-way on the runtime: tests/sdk/test_cli_requeue_local.py; a page that keeps
failing: the runner's and the state machine's tests in tests/integration/batches and tests/infra/test_batches.py,
as the local run would wait out the deployed retries, 2 + 4 + 8 + 16 s.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from infra.local.runtime import LocalRuntime
from shared import schema
from shared.access import ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from shared.batches.models import BatchStatus, RequeueBatch
from shared.config.hierarchy import ConfigLevel, ConfigStore, set_path
from shared.dynamo import to_item
from shared.jobs.models import Job, JobStatus
from shared.tenants.registry import TenantRegistry, Workspace
from tests.support.batches import stored_batch
from tests.support.factories import make_job, store_jobs, stored_jobs

TRANSCRIPT = {"transcription": "Agent: Thanks for calling. Caller: I need a roof repair quote."}
SETTLE_SECONDS = 90


def wait_for(check: Callable[[], Any], timeout: float = SETTLE_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s: {check}")


@pytest.fixture
def workspace(runtime: LocalRuntime, request: pytest.FixtureRequest) -> Workspace:
    """A tenant of the test's own, with its minimum set to 10 s (a key for it: ``key_of``)."""
    suffix = f"batches_{request.node.name[5:25]}"
    registry = TenantRegistry(runtime.table_name, aws_client("dynamodb"))
    registry.create_partner("Batch partner", f"ptn_{suffix}")
    registry.create_organization(f"ptn_{suffix}", "Batch organization", f"org_{suffix}")
    created = registry.create_workspace(f"org_{suffix}", "Batch workspace", f"ws_{suffix}")
    store = ConfigStore(runtime.config_prefix, aws_client("ssm"))
    store.write_document(
        ConfigLevel.WORKSPACE, created.workspace_id, set_path({}, "processing.filters.min_duration_seconds", 10)
    )
    return created


def store_skipped(runtime: LocalRuntime, workspace: Workspace, durations: list[int]) -> list[Job]:
    return store_jobs(
        [
            make_job(workspace, duration=d, minutes_ago=i + 1, source_metadata=dict(TRANSCRIPT))
            for i, d in enumerate(durations)
        ],
        runtime.table_name,
    )


def key_of(runtime: LocalRuntime, workspace: Workspace) -> dict[str, str]:
    key, _ = ApiKeyRepository(runtime.table_name, aws_client("dynamodb")).create(
        ScopeKind.WORKSPACE, workspace.workspace_id, "batch test", tenant_exists=True
    )
    return {"Authorization": f"Bearer {key}"}


def batch_of(runtime: LocalRuntime, workspace: Workspace, **body: Any) -> RequeueBatch:
    """``POST /api/v1/requeue-batches`` with a workspace key; the stored batch it answered."""
    with httpx.Client(base_url=runtime.api_url, timeout=30) as api:
        response = api.post("/api/v1/requeue-batches", headers=key_of(runtime, workspace), json=body)
    assert response.status_code == 202, response.text
    return stored_batch(response.json()["batch_id"], runtime.table_name)


def finished(runtime: LocalRuntime, batch: RequeueBatch) -> RequeueBatch:
    def done() -> RequeueBatch | None:
        current = stored_batch(batch.batch_id, runtime.table_name)
        return current if current.finished else None

    result: RequeueBatch = wait_for(done)
    return result


def jobs_now(runtime: LocalRuntime, jobs: list[Job]) -> dict[str, Job]:
    return stored_jobs(jobs, runtime.table_name)


def test_after_the_filter_is_lowered_a_dry_run_and_the_batch_requeue_exactly_the_passing_jobs_that_complete(
    runtime: LocalRuntime, workspace: Workspace
) -> None:
    # Given skipped jobs under a minimum of 30 s, of which one passes it; a dry run counts that one
    headers = key_of(runtime, workspace)
    with httpx.Client(base_url=runtime.api_url, timeout=30) as api:
        raised = api.patch(
            f"/api/v1/config/workspaces/{workspace.workspace_id}",
            headers={**headers, "Content-Type": "application/merge-patch+json"},
            json={"processing": {"filters": {"min_duration_seconds": 30}}},
        )
        assert raised.status_code == 200, raised.text
    jobs = store_skipped(runtime, workspace, [45, 3, 12, 9, 20, 0])
    before = finished(runtime, batch_of(runtime, workspace, skip_reasons=["duration_below_minimum"], dry_run=True))
    assert (before.counts.would_pass, before.counts.would_skip) == (1, 5)

    # When the customer lowers the workspace's minimum to 10 s through the config API (the batch functions hold the
    # old value in their cache), then runs a dry run and the same batch for real
    with httpx.Client(base_url=runtime.api_url, timeout=30) as api:
        lowered = api.patch(
            f"/api/v1/config/workspaces/{workspace.workspace_id}",
            headers={**headers, "Content-Type": "application/merge-patch+json"},
            json={"processing": {"filters": {"min_duration_seconds": 10}}},
        )
        assert lowered.status_code == 200, lowered.text
        assert lowered.json()["config"]["processing"]["filters"] == {"min_duration_seconds": 10}
    passing = {job.job_id for job in jobs if (job.duration_seconds or 0) >= 10}
    dry = finished(runtime, batch_of(runtime, workspace, skip_reasons=["duration_below_minimum"], dry_run=True))
    assert all(job.status is JobStatus.SKIPPED for job in jobs_now(runtime, jobs).values())
    real = finished(runtime, batch_of(runtime, workspace, skip_reasons=["duration_below_minimum"]))

    # Then the dry run's counts are what the batch did
    assert dry.status is BatchStatus.COMPLETED
    assert real.status is BatchStatus.COMPLETED
    assert (dry.counts.matched, dry.counts.would_pass, dry.counts.would_skip) == (6, 3, 3)
    assert (real.counts.matched, real.counts.would_pass, real.counts.would_skip) == (6, 3, 3)
    assert real.counts.requeued == dry.counts.would_pass == 3

    # And exactly the passing jobs were requeued, and they reach completed; the others stay skipped
    def settled() -> dict[str, Job] | None:
        now = jobs_now(runtime, jobs)
        return now if all(now[j].status is JobStatus.COMPLETED for j in passing) else None

    after = wait_for(settled)
    assert {job_id for job_id, job in after.items() if job.requeue_count == 1} == passing
    assert all(after[job.job_id].status is JobStatus.SKIPPED for job in jobs if job.job_id not in passing)
    # And the workspace's lock is released
    lock = aws_client("dynamodb").get_item(
        TableName=runtime.table_name, Key=to_item(schema.requeue_lock_key(workspace.workspace_id))
    )
    assert "Item" not in lock
