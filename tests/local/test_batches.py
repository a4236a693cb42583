"""Requeue batches on the local runtime, from the synthesized template: created and cancelled through the API, the
starter on the stream, the batch state machine executed by moto with the batch functions in-process, the worker and
the pipeline after each requeue."""

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
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry, Workspace
from tests.support.batches import stored_batch
from tests.support.factories import make_job, store_jobs

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
    repository = JobRepository(runtime.table_name, aws_client("dynamodb"))
    return {job.job_id: found for job in jobs if (found := repository.get(job.job_id)) is not None}


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


def test_a_cancel_part_way_leaves_counts_that_agree_with_the_jobs(runtime: LocalRuntime, workspace: Workspace) -> None:
    # Given 250 skipped jobs that fail the filter, requeued anyway (only_passing false): the worker skips them again
    jobs = store_skipped(runtime, workspace, [5] * 250)
    batch = batch_of(runtime, workspace, only_passing=False)

    # When a cancel is recorded once the first page is counted (the throttle spaces pages 2 s apart)
    wait_for(lambda: stored_batch(batch.batch_id, runtime.table_name).counts.requeued > 0)
    with httpx.Client(base_url=runtime.api_url, timeout=30) as api:
        cancelled = api.post(f"/api/v1/requeue-batches/{batch.batch_id}/cancel", headers=key_of(runtime, workspace))
    assert cancelled.status_code == 202, cancelled.text
    ended = finished(runtime, batch)

    # Then it ends cancelled before the last page, and its counts are the jobs it requeued
    assert ended.status is BatchStatus.CANCELLED
    now = jobs_now(runtime, jobs)
    requeued = [job for job in now.values() if job.source_metadata.get("last_requeued_batch") == batch.batch_id]
    assert len(now) == 250
    assert sorted({job.requeue_count for job in requeued}) == [1], [
        (job.job_id, job.requeue_count, job.status, job.source_metadata) for job in requeued if job.requeue_count != 1
    ]
    assert ended.counts.requeued == len(requeued) < 250
    assert ended.counts.matched == ended.counts.requeued


def test_a_page_that_keeps_failing_ends_the_batch_failed_and_frees_its_workspace(
    runtime: LocalRuntime, workspace: Workspace
) -> None:
    # Given a workspace whose config document is malformed (written around the admin command's checks)
    store_skipped(runtime, workspace, [40])
    store = ConfigStore(runtime.config_prefix, aws_client("ssm"))
    store.put_document(
        ConfigLevel.WORKSPACE, workspace.workspace_id, {"processing": {"filters": {"min_duration_seconds": -1}}}
    )
    batch = batch_of(runtime, workspace)

    # When its pages fail on every retry (2 + 4 + 8 s of backoff)
    ended = finished(runtime, batch)

    # Then FinishFailed ended it failed and released its lock, and the execution failed (the alarm's metric)
    assert ended.status is BatchStatus.FAILED
    lock = aws_client("dynamodb").get_item(
        TableName=runtime.table_name, Key=to_item(schema.requeue_lock_key(workspace.workspace_id))
    )
    assert "Item" not in lock
    arn = next(arn for arn in runtime.state_machine_arns.values() if "RequeueBatches" in arn)
    execution = wait_for(
        lambda: next(
            (
                e
                for e in aws_client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
                if e["name"] == batch.batch_id and e["status"] != "RUNNING"
            ),
            None,
        )
    )
    assert execution["status"] == "FAILED"
