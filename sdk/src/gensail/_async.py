"""The asynchronous client: ``AsyncGensail(api_key=..., base_url=...)``, the same calls as ``Gensail``, awaited."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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


class AsyncGensail:
    """Async client of the Gensail API; see :class:`gensail.Gensail` for the arguments."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = ClientSettings.resolve(api_key, base_url, timeout, retry)
        self._http = httpx.AsyncClient(transport=transport, **self.settings.client_options())
        self._sleep = sleep
        self._clock = clock
        self.jobs = AsyncJobs(self)
        self.config = AsyncConfig(self)
        self.requeue_batches = AsyncRequeueBatches(self, sleep, clock)

    async def send(self, operation: Operation[ResultT]) -> ResultT:
        """Make one call, retrying within the budget; its result, or the exception of its last answer."""
        budget = RetryBudget(self.settings.retry, self._clock)
        while True:
            budget.start_attempt()
            try:
                response = await self._http.send(build_request(self._http, operation))
            except httpx.TransportError as error:
                delay = budget.after_error(error)
                if delay is None:
                    raise APIConnectionError(str(error) or type(error).__name__, attempts=budget.attempts) from error
            else:
                delay = budget.after_response(response)
                if delay is None:
                    return finish(operation, response, budget.attempts)
            budget.slept(delay)
            await self._sleep(delay)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()


class AsyncPager(Generic[PageT, ItemT]):
    """Every item of a paged listing (``async for``), fetching the next page only when the previous one is used up."""

    def __init__(self, client: AsyncGensail, spec: PageSpec[PageT, ItemT]) -> None:
        self._client = client
        self._spec = spec

    async def pages(self) -> AsyncIterator[PageT]:
        """Each page as the API answers it."""
        cursor: str | None = None
        while True:
            page = await self._client.send(self._spec.page(cursor))
            yield page
            cursor = self._spec.next_cursor(page)
            if cursor is None:
                return

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        async for page in self.pages():
            for item in self._spec.items(page):
                yield item


class AsyncJobs:
    """``client.jobs``: list, read and requeue jobs."""

    def __init__(self, client: AsyncGensail) -> None:
        self._client = client

    def list(
        self, *, status: JobStatus | str | None = None, workspace_id: str | None = None, limit: int | None = None
    ) -> AsyncPager[JobList, Job]:
        """Every job of a workspace, newest first, over as many pages as it takes (``limit``: page size)."""
        return AsyncPager(self._client, ops.list_jobs(status, workspace_id, limit))

    async def get(self, job_id: str | int) -> Job:
        return await self._client.send(ops.get_job(job_id))

    async def requeue(self, job_id: str | int) -> RequeueResponse:
        """Requeue a skipped job.

        A retry whose first attempt landed (its answer lost) finds the job queued: ``JobNotSkipped`` with
        ``attempts > 1``; the job was requeued once.
        """
        return await self._client.send(ops.requeue_job(job_id))

    async def lookup(self, source_id: str, *, source: str = "callrail") -> Job:
        """The job of a source's call (``source_id``: the call's id at the source, e.g. CallRail's)."""
        return await self._client.send(batch_ops.lookup_job(source_id, source))


class AsyncConfig:
    """``client.config``: read, change, preview and trace the config hierarchy."""

    def __init__(self, client: AsyncGensail) -> None:
        self._client = client

    async def effective(self, workspace_id: str) -> EffectiveConfig:
        return await self._client.send(ops.effective_config(workspace_id))

    async def get(self, level: Level, tenant_id: str) -> ConfigDocument:
        return await self._client.send(ops.get_config(level, tenant_id))

    async def patch(
        self, level: Level, tenant_id: str, patch: dict[str, Any], *, if_match: str | None = None
    ) -> ConfigDocument:
        return await self._client.send(ops.patch_config(level, tenant_id, patch, if_match))

    async def preview(
        self,
        workspace_id: str,
        patch: dict[str, Any],
        *,
        level: Level = "workspace",
        tenant_id: str | None = None,
    ) -> ConfigPreview:
        return await self._client.send(ops.preview_config(workspace_id, level, tenant_id, patch))

    def history(
        self, level: Level, tenant_id: str, *, limit: int | None = None
    ) -> AsyncPager[ConfigHistory, HistoryEntry]:
        return AsyncPager(self._client, ops.config_history(level, tenant_id, limit))


class AsyncRequeueBatches:
    """``client.requeue_batches``: see :class:`gensail._sync.RequeueBatches`; the same calls, awaited."""

    def __init__(
        self, client: AsyncGensail, sleep: Callable[[float], Awaitable[None]], clock: Callable[[], float]
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._clock = clock

    async def create(
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
        """Start a batch; every attempt of this call carries the same ``Idempotency-Key`` (generated if not given)."""
        return await self._client.send(
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

    async def get(self, batch: RequeueBatch | str) -> RequeueBatch:
        return await self._client.send(batch_ops.get_batch(batch))

    def list(
        self, *, workspace_id: str | None = None, limit: int | None = None
    ) -> AsyncPager[RequeueBatchList, RequeueBatch]:
        return AsyncPager(self._client, batch_ops.list_batches(workspace_id, limit))

    async def cancel(self, batch: RequeueBatch | str) -> RequeueBatch:
        return await self._client.send(batch_ops.cancel_batch(batch))

    async def wait(
        self,
        batch: RequeueBatch | str,
        *,
        on_progress: Callable[[RequeueBatch], object] | None = None,
        poll_interval: float = 1.0,
        timeout: float | None = None,
    ) -> RequeueBatch:
        """Read the batch until it finishes; ``on_progress`` (a function or a coroutine function) gets each read."""
        waiting = batch_ops.BatchWait(poll_interval, timeout, started=self._clock())
        while True:
            current = await self.get(batch)
            if on_progress is not None:
                reported = on_progress(current)
                if inspect.isawaitable(reported):
                    await reported
            delay = waiting.next_poll(current, self._clock())
            if delay is None:
                return current
            await self._sleep(delay)
