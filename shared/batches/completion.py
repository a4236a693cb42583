"""The end of a requeue batch: its final status, its workspaces' locks released, then ``requeue_batch.completed``.

``BatchFinisher`` writes the status and releases the locks (a retry of it changes nothing more);
``BatchAnnouncer`` then sends the event to the event bus and to each workspace's webhooks, signed like job
events. The state machine runs them as two tasks, so a webhook that keeps failing is retried on its own and
then dead-lettered, never holding the batch's status or its locks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from shared.batches.models import BatchStatus, RequeueBatch
from shared.batches.runs import BatchRuns
from shared.batches.store import BatchStore
from shared.clock import now_iso
from shared.pipeline.errors import PermanentStageError
from shared.pipeline.publishing import WebhookDelivery
from shared.ports import ConfigReader, WorkspaceLookup

COMPLETED_EVENT = "requeue_batch.completed"
# The batch as the API answers it: everything but where the runner is, the partner and the cancel request.
_PUBLIC_FIELDS = (
    "batch_id",
    "status",
    "dry_run",
    "selection",
    "counts",
    "created_at",
    "created_by",
    "started_at",
    "finished_at",
)


class BatchEvents(Protocol):
    """Where the event bus announcement goes (``shared.adapters.eventbridge.EventBridgePublisher``)."""

    def requeue_batch_completed(self, detail: dict[str, Any]) -> None: ...


def completed_event(batch: RequeueBatch) -> dict[str, Any]:
    """``requeue_batch.completed``: the event name and the batch as answered, with its final counts and status."""
    public = batch.model_dump(mode="json", include=set(_PUBLIC_FIELDS))
    return {"event": COMPLETED_EVENT, **{name: public.get(name) for name in _PUBLIC_FIELDS}}


class BatchFinisher:
    """Ends a batch and releases its workspaces."""

    def __init__(self, runs: BatchRuns, store: BatchStore) -> None:
        self._runs = runs
        self._store = store

    def finish(self, batch_id: str, status: BatchStatus) -> dict[str, Any]:
        """Write the final ``status`` (once), release the locks it still holds; returns the completion event."""
        batch = self._runs.finish(batch_id, status, now_iso())
        self._store.release_locks(batch.batch_id, batch.selection.workspace_ids)
        return completed_event(batch)


class BatchAnnouncer:
    """Sends a batch's completion event to the bus and to the webhooks of each of its workspaces."""

    def __init__(
        self,
        events: BatchEvents,
        config: ConfigReader,
        workspaces: WorkspaceLookup,
        webhooks: WebhookDelivery,
        secret: Callable[[str], bytes],
    ) -> None:
        self._events = events
        self._config = config
        self._workspaces = workspaces
        self._webhooks = webhooks
        self._secret = secret

    def announce(self, event: dict[str, Any]) -> int:
        """Put the event on the bus, then deliver it signed to every webhook of every workspace of the batch (each
        workspace's body names it as ``workspace_id``); returns the deliveries made. Failures raise the stages'
        ``TransientStageError`` (retry) or ``PermanentStageError``."""
        self._events.requeue_batch_completed(event)
        delivered = 0
        for workspace_id in event["selection"]["workspace_ids"]:
            workspace = self._workspaces.get_workspace(workspace_id)
            if workspace is None:
                continue  # deleted since: nobody to tell
            webhooks = self._config.resolve(workspace.path).config.processing.webhooks
            if not webhooks.urls:
                continue
            if not webhooks.secret_parameter:
                raise PermanentStageError(
                    f"Workspace {workspace_id} has webhook URLs but no processing.webhooks.secret_parameter."
                )
            body = json.dumps({**event, "workspace_id": workspace_id}).encode()
            delivered += self._webhooks.deliver_all(webhooks.urls, body, self._secret(webhooks.secret_parameter))
        return delivered
