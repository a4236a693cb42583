"""What API clients can do with jobs: read them, list them, and requeue skipped ones."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.access import Caller, ScopeKind, TenantPath
from shared.clock import now_iso
from shared.errors import AccessDenied, InvalidStatus, JobNotFound, WorkspaceRequired
from shared.jobs.cursor import CursorCodec
from shared.jobs.models import Job, JobStatus, requeue_message
from shared.ports import JobStore

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class RequeueResult:
    job: Job
    previous_status: JobStatus
    message: str


@dataclass(frozen=True)
class JobListing:
    jobs: list[Job]
    next_cursor: str | None


class WorkspaceDirectory:
    """Workspace ancestry, cached: it never changes once a workspace exists.

    ``bulk_lookup`` (optional) reads many workspaces at once for ``paths_of``; without it they are read one by one.
    """

    def __init__(
        self,
        lookup: Callable[[str], TenantPath | None],
        ttl_seconds: int,
        bulk_lookup: Callable[[list[str]], dict[str, TenantPath]] | None = None,
    ) -> None:
        self._lookup = lookup
        self._bulk_lookup = bulk_lookup
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, TenantPath | None]] = {}

    def path_of(self, workspace_id: str) -> TenantPath | None:
        now = time.monotonic()
        cached = self._cache.get(workspace_id)
        if cached and cached[0] > now:
            return cached[1]
        path = self._lookup(workspace_id)
        if path is not None:
            self._cache[workspace_id] = (now + self._ttl, path)
        return path

    def paths_of(self, workspace_ids: list[str]) -> dict[str, TenantPath | None]:
        """The path of each workspace (``None``: no such workspace), reading the uncached ones together."""
        now = time.monotonic()
        paths: dict[str, TenantPath | None] = {}
        missing = []
        for workspace_id in workspace_ids:
            cached = self._cache.get(workspace_id)
            if cached and cached[0] > now:
                paths[workspace_id] = cached[1]
            else:
                missing.append(workspace_id)
        if missing and self._bulk_lookup is not None:
            found = self._bulk_lookup(missing)
            for workspace_id in missing:
                path = paths[workspace_id] = found.get(workspace_id)
                if path is not None:
                    self._cache[workspace_id] = (now + self._ttl, path)
        else:
            paths.update({workspace_id: self.path_of(workspace_id) for workspace_id in missing})
        return {workspace_id: paths[workspace_id] for workspace_id in workspace_ids}


class JobService:
    """The job operations of the public API, each checked against the caller's scope."""

    def __init__(
        self,
        jobs: JobStore,
        workspaces: WorkspaceDirectory,
        cursors: Callable[[], CursorCodec],
    ) -> None:
        self._jobs = jobs
        self._workspaces = workspaces
        self._cursors = cursors

    def requeue(self, job_id: str, requested_status: str, caller: Caller) -> RequeueResult:
        """Send a skipped job back to ``queued`` so the worker checks it against the filters as they are now."""
        if requested_status != JobStatus.QUEUED:
            raise InvalidStatus(f"Invalid status {requested_status!r}: only 'queued' is supported.")
        job = self._jobs.requeue(job_id, caller, now_iso())
        return RequeueResult(job=job, previous_status=JobStatus.SKIPPED, message=requeue_message(job.requeue_count))

    def get(self, job_id: str, caller: Caller) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"Job {job_id} not found.")
        if not caller.covers_item(job.model_dump()):
            raise AccessDenied(f"Your API key has no access to the workspace of job {job_id}.")
        return job

    def lookup(self, source: str, source_id: str, caller: Caller) -> Job:
        """The job created from ``source``'s call ``source_id``."""
        job = self._jobs.find_by_source(source, source_id)
        if job is None:
            raise JobNotFound(f"No job for {source} call {source_id}.")
        if not caller.covers_item(job.model_dump()):
            raise AccessDenied(f"Your API key has no access to the workspace of the job for {source} call {source_id}.")
        return job

    def list(
        self,
        caller: Caller,
        workspace_id: str | None,
        status: JobStatus | None,
        limit: int,
        cursor: str | None,
    ) -> JobListing:
        """One page of a workspace's jobs, newest first, optionally in one status."""
        workspace_id = accessible_workspace(caller, workspace_id, self._workspaces)
        binding = {
            "workspace_id": workspace_id,
            "status": status.value if status else None,
            "scope": caller.scope.value,
            "scope_id": caller.scope_id,
            "key_id": caller.key_id,
        }
        start_key = self._cursors().decode(cursor, binding) if cursor else None
        page = self._jobs.list_jobs(workspace_id, status, limit, start_key)
        next_cursor = self._cursors().encode(page.last_key, binding) if page.last_key else None
        return JobListing(jobs=page.jobs, next_cursor=next_cursor)


def accessible_workspace(
    caller: Caller, workspace_id: str | None, workspaces: WorkspaceDirectory, action: str = "list"
) -> str:
    """The workspace a listing reads: ``workspace_id``, or a workspace key's own when omitted.

    Organization and partner keys must name one (``WorkspaceRequired``); a workspace outside the key's scope,
    or unknown, is ``AccessDenied``.
    """
    # `workspace_id=` (empty) means the same as no workspace_id, whatever the key's scope.
    workspace_id = workspace_id or None
    if caller.scope is ScopeKind.WORKSPACE:
        if workspace_id not in (None, caller.scope_id):
            raise AccessDenied(f"Your API key has no access to workspace {workspace_id}.")
        return caller.scope_id
    if workspace_id is None:
        article = "an" if caller.scope[0] in "aeiou" else "a"
        raise WorkspaceRequired(
            f"A key scoped to {article} {caller.scope} must name the workspace to {action} (workspace_id)."
        )
    path = workspaces.path_of(workspace_id)
    # An unknown workspace is refused like a foreign one, so ids of other tenants cannot be probed.
    if path is None or not caller.covers(path):
        raise AccessDenied(f"Your API key has no access to workspace {workspace_id}.")
    return workspace_id
