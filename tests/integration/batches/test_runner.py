"""The batch runner's pages on moto: selection, the filter check, exact counts, dry run, cancel and resume."""

from __future__ import annotations

from typing import Any

import pytest

from shared import schema
from shared.aws import client as aws_client
from shared.batches.models import BatchCounts, BatchStatus
from shared.batches.runs import BatchRuns
from shared.config.hierarchy import ConfigLevel, ConfigStore
from shared.dynamo import to_item
from shared.errors import ConfigError
from shared.jobs.models import Job, JobStatus
from shared.jobs.repository import BatchRequeue, BatchRequeueOutcome, JobRepository
from tests.conftest import Tenants
from tests.integration.batches.conftest import skipped_jobs
from tests.support.aws import CONFIG_PREFIX, TABLE_NAME
from tests.support.batches import batch_runner, finish, run_page, run_to_end, store_batch, stored_batch
from tests.support.factories import stored_jobs

PASSING = [45, 20, 11, 10]  # at or above the lowered minimum of 10 s
FAILING = [9, 3, 0]


def jobs_of(jobs: list[Job]) -> dict[str, Job]:
    return stored_jobs(jobs)


def requeued_by(batch_id: str, jobs: list[Job]) -> set[str]:
    return {
        job_id for job_id, job in jobs_of(jobs).items() if job.source_metadata.get("last_requeued_batch") == batch_id
    }


def test_a_batch_requeues_exactly_the_jobs_that_pass_the_lowered_filter(tenants: Tenants, lowered: None) -> None:
    # Given skipped jobs of which four pass the lowered minimum, and a batch of their reason
    workspace = tenants.workspace(0)
    passing = skipped_jobs(workspace, PASSING)
    failing = skipped_jobs(workspace, FAILING)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id], skip_reasons=["duration_below_minimum"])

    # When the runner runs it to the end
    result, _ = run_to_end(batch_runner(), batch)

    # Then exactly the passing jobs are queued, with the spec's metadata and the batch named
    assert result.outcome is BatchStatus.COMPLETED
    after = jobs_of(passing + failing)
    assert {job_id for job_id, job in after.items() if job.status is JobStatus.QUEUED} == {j.job_id for j in passing}
    for job in passing:
        metadata = after[job.job_id].source_metadata
        assert metadata["requeue_count"] == 1
        assert metadata["last_requeued_by"] == "workspace"
        assert metadata["last_requeued_batch"] == batch.batch_id
        assert metadata["previous_skipped_reason"].startswith("duration_below_minimum:")
    assert stored_batch(batch.batch_id).counts == BatchCounts(matched=7, requeued=4, would_pass=4, would_skip=3)


def test_dry_run_counts_equal_what_the_real_batch_then_does(tenants: Tenants, lowered: None) -> None:
    workspace = tenants.workspace(0)
    jobs = skipped_jobs(workspace, PASSING + FAILING + PASSING)
    # Given a dry run over the workspace
    dry = store_batch(workspace.partner_id, [workspace.workspace_id], dry_run=True)
    run_to_end(batch_runner(), dry)
    dry_counts = stored_batch(dry.batch_id).counts
    # Then it wrote no job
    assert all(job.status is JobStatus.SKIPPED for job in jobs_of(jobs).values())

    # When the same selection runs for real
    real = store_batch(workspace.partner_id, [workspace.workspace_id])
    run_to_end(batch_runner(), real)
    real_counts = stored_batch(real.batch_id).counts

    # Then it matched and judged the same jobs, and requeued the ones the dry run said would pass
    assert (dry_counts.matched, dry_counts.would_pass, dry_counts.would_skip) == (11, 8, 3)
    assert (real_counts.matched, real_counts.would_pass, real_counts.would_skip) == (11, 8, 3)
    assert dry_counts.requeued == 0
    assert real_counts.requeued == dry_counts.would_pass == len(requeued_by(real.batch_id, jobs))


class CrashingJobs(JobRepository):
    """Fails the ``crash_at``-th batch requeue (after the write), as a function timing out part-way would."""

    def __init__(self, crash_at: int) -> None:
        super().__init__(TABLE_NAME, aws_client("dynamodb"))
        self.calls = 0
        self.crash_at = crash_at

    def requeue_in_batch(self, job_id: str, requeue: BatchRequeue, now: str) -> BatchRequeueOutcome:
        outcome = super().requeue_in_batch(job_id, requeue, now)
        self.calls += 1
        if self.calls == self.crash_at:
            raise TimeoutError("the function timed out")
        return outcome


def test_a_run_that_crashes_mid_page_resumes_without_requeuing_any_job_twice(tenants: Tenants) -> None:
    # Given 250 skipped jobs (three pages) that all pass, as only_passing false does not look
    workspace = tenants.workspace(0)
    jobs = skipped_jobs(workspace, [40] * 250)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id], only_passing=False)

    # When the second page crashes after 30 of its requeues, and the page is retried (a new runner)
    runner = batch_runner(jobs=CrashingJobs(crash_at=130))
    assert not run_page(runner, batch).done
    with pytest.raises(TimeoutError):
        run_page(runner, batch)
    result, _ = run_to_end(batch_runner(), batch)

    # Then every job was requeued once and the counts are exact
    assert result.outcome is BatchStatus.COMPLETED
    after = jobs_of(jobs)
    assert all(job.requeue_count == 1 and job.status is JobStatus.QUEUED for job in after.values())
    assert stored_batch(batch.batch_id).counts == BatchCounts(matched=250, requeued=250, would_pass=250)


def test_a_page_retried_after_it_committed_counts_nothing_twice(tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    jobs = skipped_jobs(workspace, [40] * 120)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])
    runner = batch_runner()
    run_page(runner, batch)
    # When a page's attempt works from the batch as it was before that page committed (a retried Lambda)
    stale = batch.model_copy(update={"status": BatchStatus.RUNNING})
    runs = BatchRuns(TABLE_NAME, aws_client("dynamodb"))
    runs.read = lambda *_: (stale, None)  # type: ignore[method-assign]
    runner._runs = runs
    assert run_page(runner, batch).done is False
    runner = batch_runner()
    run_to_end(runner, batch)
    # Then the first page is counted once
    assert stored_batch(batch.batch_id).counts == BatchCounts(matched=120, requeued=120, would_pass=120)
    assert all(job.requeue_count == 1 for job in jobs_of(jobs).values())


def test_a_cancel_part_way_leaves_counts_that_agree_with_the_jobs(tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    jobs = skipped_jobs(workspace, [40] * 250)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])
    runner = batch_runner()
    run_page(runner, batch)
    # When a cancel is recorded after the first page
    aws_client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"BATCH#{batch.batch_id}"}, "sk": {"S": "BATCH"}},
        UpdateExpression="SET cancel_requested_at = :now",
        ExpressionAttributeValues={":now": {"S": "2026-12-02T08:00:00.000Z"}},
    )
    result = run_page(runner, batch)
    finish(batch, BatchStatus.CANCELLED)

    # Then it stops, and what it counts is what the jobs show
    assert result.done
    assert result.outcome is BatchStatus.CANCELLED
    finished = stored_batch(batch.batch_id)
    assert finished.status is BatchStatus.CANCELLED
    assert finished.finished_at
    assert finished.counts.requeued == len(requeued_by(batch.batch_id, jobs)) == 100
    assert sum(job.status is JobStatus.SKIPPED for job in jobs_of(jobs).values()) == 150


def test_a_cancel_after_a_page_crashed_part_way_finishes_that_page_then_stops(tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    jobs = skipped_jobs(workspace, [40] * 150)
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])
    with pytest.raises(TimeoutError):
        run_page(batch_runner(jobs=CrashingJobs(crash_at=40)), batch)
    aws_client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"BATCH#{batch.batch_id}"}, "sk": {"S": "BATCH"}},
        UpdateExpression="SET cancel_requested_at = :now",
        ExpressionAttributeValues={":now": {"S": "2026-12-02T08:00:00.000Z"}},
    )
    result = run_page(batch_runner(), batch)
    # Then the page it had begun is done and counted (within one page), and nothing after it
    assert result.outcome is BatchStatus.CANCELLED
    assert stored_batch(batch.batch_id).counts.requeued == len(requeued_by(batch.batch_id, jobs)) == 100
    assert sum(job.status is JobStatus.SKIPPED for job in jobs_of(jobs).values()) == 50


def test_selection_by_reason_window_and_max_jobs(tenants: Tenants, lowered: None) -> None:
    workspace = tenants.workspace(0)
    short = skipped_jobs(workspace, [40] * 5)
    limited = skipped_jobs(workspace, [40] * 3, skipped_reason="rate_limit:3")
    batch = store_batch(workspace.partner_id, [workspace.workspace_id], skip_reasons=["rate_limit"])
    run_to_end(batch_runner(), batch)
    assert requeued_by(batch.batch_id, short + limited) == {job.job_id for job in limited}

    capped = store_batch(workspace.partner_id, [workspace.workspace_id], max_jobs=2)
    run_to_end(batch_runner(), capped)
    assert stored_batch(capped.batch_id).counts.matched == 2
    assert len(requeued_by(capped.batch_id, short)) == 2

    window = store_batch(
        workspace.partner_id, [workspace.workspace_id], skipped_before="2000-01-01T00:00:00Z"
    )  # nothing was skipped before 2000
    run_to_end(batch_runner(), window)
    assert stored_batch(window.batch_id).counts == BatchCounts()


def test_explicit_ids_count_unknown_foreign_and_not_skipped_jobs(tenants: Tenants, lowered: None) -> None:
    workspace, other = tenants.workspace(0), tenants.workspace(1)
    (mine,) = skipped_jobs(workspace, [40])
    (foreign,) = skipped_jobs(other, [40])
    (done,) = skipped_jobs(workspace, [40], status=JobStatus.COMPLETED)
    ids: dict[str, Any] = {"job_ids": [mine.job_id, foreign.job_id, done.job_id, "999999"]}
    batch = store_batch(workspace.partner_id, [workspace.workspace_id], **ids)
    run_to_end(batch_runner(), batch)
    assert stored_batch(batch.batch_id).counts == BatchCounts(
        matched=1, requeued=1, would_pass=1, failed=2, not_skipped_anymore=1
    )
    # the source call's dedupe item, as ingestion writes it beside the job
    aws_client("dynamodb").put_item(
        TableName=TABLE_NAME,
        Item=to_item({**schema.source_call_key("callrail", str(foreign.source_id)), "job_id": foreign.job_id}),
    )
    by_source = store_batch(other.partner_id, [other.workspace_id], source_ids=[str(foreign.source_id), "CALnope"])
    run_to_end(batch_runner(), by_source)
    assert stored_batch(by_source.batch_id).counts == BatchCounts(matched=1, requeued=1, would_pass=1, failed=1)


def test_a_job_requeued_elsewhere_meanwhile_counts_as_not_skipped_anymore(tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    (job,) = skipped_jobs(workspace, [40])
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])
    runner = batch_runner()
    planned = runner.choose(stored_batch(batch.batch_id))
    JobRepository(TABLE_NAME, aws_client("dynamodb")).requeue(job.job_id, tenants.callers[workspace.workspace_id], "t")
    BatchRuns(TABLE_NAME, aws_client("dynamodb")).plan(stored_batch(batch.batch_id), planned, "t")
    run_to_end(runner, batch)
    assert stored_batch(batch.batch_id).counts == BatchCounts(matched=1, would_pass=1, not_skipped_anymore=1)


def test_several_workspaces_are_walked_in_turn(tenants: Tenants) -> None:
    first, second = tenants.workspace(0), tenants.workspace(1)
    jobs = skipped_jobs(first, [40] * 120) + skipped_jobs(second, [40] * 30)
    batch = store_batch(first.partner_id, [first.workspace_id, second.workspace_id])
    run_to_end(batch_runner(), batch)
    assert stored_batch(batch.batch_id).progress.pages == 3
    assert len(requeued_by(batch.batch_id, jobs)) == 150
    assert stored_batch(batch.batch_id).counts.requeued == 150


def test_a_page_over_a_malformed_config_fails_and_finish_failed_frees_the_workspace(tenants: Tenants) -> None:
    # Given a skipped job in a workspace whose config document is malformed (written around the admin's checks)
    workspace = tenants.workspace(0)
    jobs = skipped_jobs(workspace, [40])
    ConfigStore(CONFIG_PREFIX, aws_client("ssm")).put_document(
        ConfigLevel.WORKSPACE, workspace.workspace_id, {"processing": {"filters": {"min_duration_seconds": -1}}}
    )
    batch = store_batch(workspace.partner_id, [workspace.workspace_id])

    # When its page runs, then again as the state machine's retries do
    for _ in range(2):
        with pytest.raises(ConfigError, match="min_duration_seconds"):
            run_page(batch_runner(), batch)

    # Then nothing was requeued or counted; and the FinishFailed task (the state machine's catch, see
    # tests/infra/test_batches.py) ends the batch failed, releases its lock and announces a failed batch
    assert all(job.status is JobStatus.SKIPPED for job in jobs_of(jobs).values())
    assert stored_batch(batch.batch_id).counts == BatchCounts()
    event = finish(batch, BatchStatus.FAILED)
    assert event["status"] == "failed"
    assert stored_batch(batch.batch_id).status is BatchStatus.FAILED
    lock = aws_client("dynamodb").get_item(
        TableName=TABLE_NAME, Key=to_item(schema.requeue_lock_key(workspace.workspace_id))
    )
    assert "Item" not in lock
