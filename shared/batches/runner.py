"""One page of a requeue batch, as the state machine's ``Page`` task runs it, and the batch's end.

A page: read the batch and its partner's throttle (one request); stop if a cancel was asked for; wait if the
partner's requeue time is taken; choose the page (the selection's next jobs, each checked by the worker's own
filter check under the workspace's config as it is now) and, unless it is a dry run, write that choice into the
batch before touching any job; requeue the chosen jobs; then add the page's counts and move the progress on in
one conditional write; then reserve the partner's time for the jobs requeued. A page that crashes is retried:
it finds its choice in the batch and redoes exactly those jobs, each requeue refusing a job this batch already
requeued (counted as requeued), so no job is requeued twice and the counts stay exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.access import TenantPath
from shared.batches.models import BatchCounts, BatchProgress, BatchStatus, PlannedPage, RequeueBatch
from shared.batches.runs import BatchRuns, StaleProgress
from shared.batches.selection import BatchSelector
from shared.batches.throttle import RequeueThrottle, must_wait, wait_seconds
from shared.clock import format_timestamp, parse_timestamp
from shared.jobs.repository import BatchRequeue, BatchRequeueOutcome, JobRepository
from shared.ports import ConfigReader
from shared.processing.filters import skip_reason_for_call


@dataclass(frozen=True)
class PageResult:
    """What the state machine does next: wait ``wait_seconds`` and run the next page, or finish with ``outcome``."""

    done: bool
    wait_seconds: int = 0
    outcome: BatchStatus | None = None

    def state(self, batch_id: str, partner_id: str) -> dict[str, Any]:
        """The execution's state after this page (the next task's input)."""
        return {
            "batch_id": batch_id,
            "partner_id": partner_id,
            "done": self.done,
            "wait_seconds": self.wait_seconds,
            "outcome": self.outcome.value if self.outcome else None,
        }


class BatchRunner:
    """Runs a batch's pages against the table, the config and the partner's throttle."""

    def __init__(
        self,
        *,
        runs: BatchRuns,
        selector: BatchSelector,
        jobs: JobRepository,
        config: ConfigReader,
        throttle: RequeueThrottle,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runs = runs
        self._selector = selector
        self._jobs = jobs
        self._config = config
        self._throttle = throttle
        self.clock = clock

    def run_page(self, batch_id: str, partner_id: str) -> PageResult:
        """Run the batch's next page (or find it must wait, stop or end)."""
        batch, next_free_at = self._runs.read(batch_id, partner_id)
        if batch is None:
            raise LookupError(f"requeue batch {batch_id} does not exist")
        if batch.finished:
            return PageResult(done=True, outcome=batch.status)
        planned = batch.progress.planned  # a page whose first attempt stopped part-way: it is finished first
        cancelled = batch.cancel_requested_at is not None
        if cancelled and planned is None:
            return PageResult(done=True, outcome=BatchStatus.CANCELLED)
        started = self.clock()
        if planned is None and not batch.dry_run and must_wait(next_free_at, started):
            if batch.status is BatchStatus.PENDING:
                self._runs.mark_running(batch, _iso(started))
            return PageResult(done=False, wait_seconds=wait_seconds(next_free_at or started, started))
        try:
            return self._run(batch, planned, next_free_at, started)
        except StaleProgress:
            return PageResult(done=False)  # an earlier attempt of this page moved the batch on: read it again

    def _run(
        self, batch: RequeueBatch, planned: PlannedPage | None, next_free_at: float | None, started: float
    ) -> PageResult:
        """Choose (unless resumed), requeue, commit and reserve the partner's time for one page."""
        now = _iso(started)
        if planned is None:
            planned = self.choose(batch)
            if planned.jobs and not batch.dry_run:
                self._runs.plan(batch, planned, now)  # before any job write: a retry redoes exactly this page
        counts = planned.counts.model_copy()
        if not batch.dry_run:
            self._requeue(batch, planned, now, counts)
        progress = BatchProgress(
            workspace_index=planned.workspace_index, last_key=planned.last_key, pages=batch.progress.pages + 1
        )
        self._runs.commit(batch, counts, progress, now)
        wait = 0
        if counts.requeued and planned.max_jobs_per_second:
            reservation = self._throttle.reserve(
                batch.partner_id, counts.requeued, planned.max_jobs_per_second, started_at=started, known=next_free_at
            )
            wait = wait_seconds(reservation.end, self.clock())
        if batch.cancel_requested_at is not None:
            return PageResult(done=True, outcome=BatchStatus.CANCELLED)
        if planned.exhausted:
            return PageResult(done=True, outcome=BatchStatus.COMPLETED)
        return PageResult(done=False, wait_seconds=wait)

    def choose(self, batch: RequeueBatch) -> PlannedPage:
        """The next page: its skipped jobs, counted as matched and as passing or failing the filters as they are
        now, and the jobs to requeue (those that pass, or all with ``only_passing`` false)."""
        selection = batch.selection
        page = self._selector.next_page(
            selection, batch.progress.workspace_index, batch.progress.last_key, batch.counts.matched
        )
        counts = page.counts.model_copy()
        chosen: dict[str, str] = {}
        rate: int | None = None
        paths = {_path(job) for job in page.jobs}
        fresh_since = parse_timestamp(batch.created_at).timestamp()
        configs = self._config_of(paths, fresh_since)
        for job in page.jobs:
            config = configs[str(job["workspace_id"])]
            rate = config.requeue.max_jobs_per_second
            passes = skip_reason_for_call(job.get("duration_seconds"), config) is None
            counts.matched += 1
            if passes:
                counts.would_pass += 1
            else:
                counts.would_skip += 1
            if passes or not selection.only_passing:
                chosen[str(job["job_id"])] = str(job["workspace_id"])
        return PlannedPage(
            jobs=chosen,
            counts=counts,
            workspace_index=page.workspace_index,
            last_key=page.last_key,
            exhausted=page.exhausted,
            max_jobs_per_second=rate,
        )

    def _config_of(self, paths: set[TenantPath], fresh_since: float) -> dict[str, Any]:
        # Fresh as of the batch's creation: a filter lowered before the batch was created is seen (as the worker
        # sees a change made before a requeue); cached documents read since then are used as they are.
        return {path.workspace_id: self._config.resolve(path, fresh_since=fresh_since).config for path in paths}

    def _requeue(self, batch: RequeueBatch, planned: PlannedPage, now: str, counts: BatchCounts) -> None:
        for job_id, workspace_id in planned.jobs.items():
            outcome = self._jobs.requeue_in_batch(
                job_id,
                BatchRequeue(
                    batch_id=batch.batch_id,
                    workspace_id=workspace_id,
                    scope=batch.created_by.scope.value,
                    key_id=batch.created_by.key_id,
                ),
                now,
            )
            if outcome is BatchRequeueOutcome.REQUEUED:
                counts.requeued += 1
            elif outcome is BatchRequeueOutcome.NOT_SKIPPED_ANYMORE:
                counts.not_skipped_anymore += 1
            else:
                counts.failed += 1


def _path(job: dict[str, Any]) -> TenantPath:
    return TenantPath(
        partner_id=str(job["partner_id"]),
        organization_id=str(job["organization_id"]),
        workspace_id=str(job["workspace_id"]),
    )


def _iso(epoch_seconds: float) -> str:
    return format_timestamp(datetime.fromtimestamp(epoch_seconds, UTC))
