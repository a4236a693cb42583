"""The synchronous client: ``Gensail(api_key=..., base_url=...)``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Self

import httpx

from gensail import _batch_operations as batch_ops
from gensail import _operations as ops
from gensail._core import ClientSettings, ItemT, Operation, PageSpec, PageT, ResultT, build_request, finish
from gensail._retry import RetryBudget, RetryPolicy
from gensail.batch_models import RequeueBatch, RequeueBatchList, SkipReasonCode
from gensail.config_models import ConfigDocument, ConfigHistory, ConfigPreview, EffectiveConfig, HistoryEntry, Level
from gensail.errors import APIConnectionError
from gensail.models import Job, JobList, JobStatus, RequeueResponse


class Gensail:
    """Client of the Gensail API. The key and URL default to ``GENSAIL_API_KEY`` and ``GENSAIL_BASE_URL``.

    ``transport`` replaces the network (e.g. ``httpx.MockTransport``); ``sleep`` and ``clock`` replace waiting and
    timing between retries. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = ClientSettings.resolve(api_key, base_url, timeout, retry)
        self._http = httpx.Client(transport=transport, **self.settings.client_options())
        self._sleep = sleep
        self._clock = clock
        self.jobs = Jobs(self)
        self.config = Config(self)
        self.requeue_batches = RequeueBatches(self, sleep, clock)

    def send(self, operation: Operation[ResultT]) -> ResultT:
        """Make one call, retrying within the budget; its result, or the exception of its last answer."""
        budget = RetryBudget(self.settings.retry, self._clock)
        while True:
            budget.start_attempt()
            try:
                response = self._http.send(build_request(self._http, operation))
            except httpx.TransportError as error:
                delay = budget.after_error(error)
                if delay is None:
                    raise APIConnectionError(str(error) or type(error).__name__, attempts=budget.attempts) from error
            else:
                delay = budget.after_response(response)
                if delay is None:
                    return finish(operation, response, budget.attempts)
            budget.slept(delay)
            self._sleep(delay)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class SyncPager(Generic[PageT, ItemT]):
    """Every item of a paged listing, fetching the next page only when the previous one is used up."""

    def __init__(self, client: Gensail, spec: PageSpec[PageT, ItemT]) -> None:
        self._client = client
        self._spec = spec

    def pages(self) -> Iterator[PageT]:
        """Each page as the API answers it."""
        cursor: str | None = None
        while True:
            page = self._client.send(self._spec.page(cursor))
            yield page
            cursor = self._spec.next_cursor(page)
            if cursor is None:
                return

    def __iter__(self) -> Iterator[ItemT]:
        for page in self.pages():
            yield from self._spec.items(page)


class Jobs:
    """``client.jobs``: list, read and requeue jobs."""

    def __init__(self, client: Gensail) -> None:
        self._client = client

    def list(
        self, *, status: JobStatus | str | None = None, workspace_id: str | None = None, limit: int | None = None
    ) -> SyncPager[JobList, Job]:
        """Every job of a workspace, newest first, over as many pages as it takes (``limit``: page size)."""
        return SyncPager(self._client, ops.list_jobs(status, workspace_id, limit))

    def get(self, job_id: str | int) -> Job:
        return self._client.send(ops.get_job(job_id))

    def requeue(self, job_id: str | int) -> RequeueResponse:
        """Requeue a skipped job.

        A retry whose first attempt landed (its answer lost) finds the job queued: ``JobNotSkipped`` with
        ``attempts > 1``; the job was requeued once.
        """
        return self._client.send(ops.requeue_job(job_id))

    def lookup(self, source_id: str, *, source: str = "callrail") -> Job:
        """The job of a source's call (``source_id``: the call's id at the source, e.g. CallRail's)."""
        return self._client.send(batch_ops.lookup_job(source_id, source))


class Config:
    """``client.config``: read, change, preview and trace the config hierarchy."""

    def __init__(self, client: Gensail) -> None:
        self._client = client

    def effective(self, workspace_id: str) -> EffectiveConfig:
        """Every setting the workspace sees, each with the level that sets it."""
        return self._client.send(ops.effective_config(workspace_id))

    def get(self, level: Level, tenant_id: str) -> ConfigDocument:
        """The document stored at one level; its ``etag`` can be passed to :meth:`patch` as ``if_match``."""
        return self._client.send(ops.get_config(level, tenant_id))

    def patch(
        self, level: Level, tenant_id: str, patch: dict[str, Any], *, if_match: str | None = None
    ) -> ConfigDocument:
        """Apply a JSON Merge Patch (``None`` removes a setting so that it inherits again)."""
        return self._client.send(ops.patch_config(level, tenant_id, patch, if_match))

    def preview(
        self,
        workspace_id: str,
        patch: dict[str, Any],
        *,
        level: Level = "workspace",
        tenant_id: str | None = None,
    ) -> ConfigPreview:
        """What ``patch`` at ``level`` (the workspace itself by default) would do to the workspace's skipped jobs."""
        return self._client.send(ops.preview_config(workspace_id, level, tenant_id, patch))

    def history(
        self, level: Level, tenant_id: str, *, limit: int | None = None
    ) -> SyncPager[ConfigHistory, HistoryEntry]:
        """Every change of one level's document, newest first (``limit``: page size)."""
        return SyncPager(self._client, ops.config_history(level, tenant_id, limit))


class RequeueBatches:
    """``client.requeue_batches``: requeue many skipped jobs on the server, follow them, and cancel them."""

    def __init__(self, client: Gensail, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self._client = client
        self._sleep = sleep
        self._clock = clock

    def create(
        self,
        *,
        workspace_ids: Sequence[str] | str | None = None,
        skip_reasons: Sequence[SkipReasonCode] | None = None,
        skipped_after: datetime | str | None = None,
        skipped_before: datetime | str | None = None,
        job_ids: Sequence[str] | None = None,
        source_ids: Sequence[str] | None = None,
        only_passing: bool = True,
        max_jobs: int | None = None,
        dry_run: bool = False,
        idempotency_key: str | None = None,
    ) -> RequeueBatch:
        """Start a batch; it answers at once (``pending``) and runs on the server: follow it with :meth:`wait`.

        ``idempotency_key`` (generated when not given) is sent with every attempt of this call, so a retried POST
        whose first attempt landed answers the same batch instead of starting a second one. Pass your own to make
        a create safe to repeat across processes; reusing one with another selection raises
        ``IdempotencyKeyReused``.
        """
        return self._client.send(
            batch_ops.create_batch(
                workspace_ids=workspace_ids,
                skip_reasons=skip_reasons,
                skipped_after=skipped_after,
                skipped_before=skipped_before,
                job_ids=job_ids,
                source_ids=source_ids,
                only_passing=only_passing,
                max_jobs=max_jobs,
                dry_run=dry_run,
                idempotency_key=idempotency_key,
            )
        )

    def get(self, batch: RequeueBatch | str) -> RequeueBatch:
        return self._client.send(batch_ops.get_batch(batch))

    def list(
        self, *, workspace_id: str | None = None, limit: int | None = None
    ) -> SyncPager[RequeueBatchList, RequeueBatch]:
        """Every batch of a workspace, newest first, over as many pages as it takes (``limit``: page size)."""
        return SyncPager(self._client, batch_ops.list_batches(workspace_id, limit))

    def cancel(self, batch: RequeueBatch | str) -> RequeueBatch:
        """Ask a batch to stop: it ends ``cancelled`` within one page; what it requeued stays requeued."""
        return self._client.send(batch_ops.cancel_batch(batch))

    def wait(
        self,
        batch: RequeueBatch | str,
        *,
        on_progress: Callable[[RequeueBatch], object] | None = None,
        poll_interval: float = 1.0,
        timeout: float | None = None,
    ) -> RequeueBatch:
        """Read the batch every ``poll_interval`` seconds until it finishes, and answer it with its final counts.

        ``on_progress`` gets the batch after each read, the last one included. Past ``timeout`` seconds it raises
        ``WaitTimeout`` (the batch runs on).
        """
        waiting = batch_ops.BatchWait(poll_interval, timeout, started=self._clock())
        while True:
            current = self.get(batch)
            if on_progress is not None:
                on_progress(current)
            delay = waiting.next_poll(current, self._clock())
            if delay is None:
                return current
            self._sleep(delay)
