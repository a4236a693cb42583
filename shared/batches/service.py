"""What API clients can do with requeue batches: create one, read it, list a workspace's, and cancel one.

Every operation is checked against the caller's scope: a key reaches a batch only when it covers every workspace
of the batch. The runner (Step Functions) does the requeueing; this module only stores and reads batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from shared.access import Caller, ScopeKind
from shared.batches.models import MAX_JOBS, BatchSelection, CreatedBy, RequeueBatch, new_batch_id
from shared.batches.store import BatchStore
from shared.clock import now_iso
from shared.errors import AccessDenied, BatchFinished, BatchNotFound, WorkspaceRequired
from shared.jobs.cursor import CursorCodec
from shared.jobs.service import WorkspaceDirectory, accessible_workspace

if TYPE_CHECKING:
    from shared.batches.idempotency import IdempotentCreates


class BatchRequest(BaseModel):
    """A new batch as asked for: the selection (``workspace_ids`` may be left to a workspace key) and dry run."""

    model_config = ConfigDict(extra="forbid")

    workspace_ids: list[str] | None = None
    skip_reasons: list[str] | None = None
    skipped_after: str | None = None
    skipped_before: str | None = None
    job_ids: list[str] | None = None
    source_ids: list[str] | None = None
    only_passing: bool = True
    max_jobs: int = MAX_JOBS
    dry_run: bool = False


@dataclass(frozen=True)
class BatchListing:
    batches: list[RequeueBatch]
    next_cursor: str | None


def covers_batch(caller: Caller, batch: RequeueBatch) -> bool:
    """True when ``caller`` covers every workspace of ``batch`` (what reading or cancelling it needs)."""
    if caller.scope is ScopeKind.PARTNER:
        return batch.partner_id == caller.scope_id
    if caller.scope is ScopeKind.ORGANIZATION:
        return bool(batch.organization_ids) and set(batch.organization_ids) == {caller.scope_id}
    return set(batch.selection.workspace_ids) == {caller.scope_id}


class BatchService:
    """Requeue batches for the public API."""

    def __init__(
        self,
        store: BatchStore,
        workspaces: WorkspaceDirectory,
        cursors: Callable[[], CursorCodec],
        idempotency: Callable[[], IdempotentCreates],
    ) -> None:
        self._store = store
        self._workspaces = workspaces
        self._cursors = cursors
        self._idempotency = idempotency

    def create(
        self,
        caller: Caller,
        request: BatchRequest,
        idempotency_key: str | None = None,
        lambda_context: Any = None,
    ) -> RequeueBatch:
        """Store a ``pending`` batch; with ``idempotency_key``, a retry answers the batch the first request made."""
        if not request.workspace_ids and caller.scope is ScopeKind.WORKSPACE:
            # A workspace key's own workspace, named or not, is the same request (and the same idempotent body).
            request = request.model_copy(update={"workspace_ids": [caller.scope_id]})
        if idempotency_key is None:
            return self._create(caller, request)
        replayed = True

        def create() -> dict[str, Any]:
            nonlocal replayed
            replayed = False
            return self._create(caller, request).model_dump(mode="json")

        result = self._idempotency().once(
            caller, idempotency_key, request.model_dump(mode="json"), create, lambda_context
        )
        batch = RequeueBatch.model_validate(result)
        # A retry answers the batch as it is now (it may be running or finished), not as it was created.
        return (self._store.get(batch.batch_id) or batch) if replayed else batch

    def _create(self, caller: Caller, request: BatchRequest) -> RequeueBatch:
        if not request.workspace_ids:
            article = "an" if caller.scope[0] in "aeiou" else "a"
            raise WorkspaceRequired(
                f"A key scoped to {article} {caller.scope} must name the batch's workspaces (workspace_ids)."
            )
        workspace_ids = list(dict.fromkeys(request.workspace_ids))
        paths = []
        for workspace_id, path in self._workspaces.paths_of(workspace_ids).items():
            # An unknown workspace is refused like a foreign one, so ids of other tenants cannot be probed.
            if path is None or not caller.covers(path):
                raise AccessDenied(f"Your API key has no access to workspace {workspace_id}.")
            paths.append(path)
        selection = BatchSelection.model_validate(
            {**request.model_dump(exclude={"workspace_ids", "dry_run"}), "workspace_ids": workspace_ids}
        )
        batch = RequeueBatch(
            batch_id=new_batch_id(),
            partner_id=paths[0].partner_id,
            organization_ids=sorted({path.organization_id for path in paths}),
            dry_run=request.dry_run,
            selection=selection,
            created_at=now_iso(),
            created_by=CreatedBy(scope=caller.scope, key_id=caller.key_id),
        )
        return self._store.create(batch)

    def get(self, caller: Caller, batch_id: str) -> RequeueBatch:
        batch = self._store.get(batch_id)
        if batch is None:
            raise BatchNotFound(f"Requeue batch {batch_id} not found.")
        if not covers_batch(caller, batch):
            raise AccessDenied(f"Your API key has no access to every workspace of requeue batch {batch_id}.")
        return batch

    def list(self, caller: Caller, workspace_id: str | None, limit: int, cursor: str | None) -> BatchListing:
        """One page of a workspace's batches, newest first: only those the caller may read."""
        workspace_id = accessible_workspace(caller, workspace_id, self._workspaces, "list")
        binding = {
            "requeue_batches": workspace_id,
            "scope": caller.scope.value,
            "scope_id": caller.scope_id,
            "key_id": caller.key_id,
        }
        start_key = self._cursors().decode(cursor, binding) if cursor else None
        page = self._store.list_for_workspace(workspace_id, limit, start_key)
        return BatchListing(
            batches=[batch for batch in page.batches if covers_batch(caller, batch)],
            next_cursor=self._cursors().encode(page.last_key, binding) if page.last_key else None,
        )

    def cancel(self, caller: Caller, batch_id: str) -> RequeueBatch:
        """Ask the runner to stop the batch (it ends ``cancelled`` within one page); again is fine."""
        batch = self.get(caller, batch_id)
        if batch.finished:
            raise BatchFinished(f"Requeue batch {batch_id} has already finished ({batch.status}).")
        return self._store.request_cancel(batch_id, now_iso())
