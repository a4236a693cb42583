"""Polling CallRail: the dispatcher's fan-out over workspaces and the poll of one workspace's window.

A poll stores calls in ascending ``start_time`` and moves the workspace's cursor only over calls that are
stored, so a 429, an outage or a timeout mid-window never loses a call: the next poll resumes from the last
stored one (re-reading the overlap, which dedupe makes free).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel

from shared.callrail.client import CallRailError, CallRailRateLimited, CallRecord, InvalidCall
from shared.clock import format_timestamp, utc_now
from shared.config.hierarchy import ConfigStore, ResolvedConfig
from shared.config.model import CallRailIntegration, EffectiveConfig
from shared.errors import ConfigError, DomainError
from shared.ingest.jobs import BATCH_GET_LIMIT, IngestOutcome, counter_day
from shared.parameters import CALLRAIL_KEYS_FOLDER, is_secret_of_kind
from shared.ports import CallJobs, ConfigReader, PollCursors, WorkspaceLookup
from shared.schema import Entity
from shared.tenants.registry import TenantRegistry, Workspace

CONFIG_BATCH = 50  # workspaces resolved per ConfigStore.resolve_many call
SQS_BATCH = 10  # entries per SendMessageBatch, the SQS maximum


class CallSource(Protocol):
    """Where a poll reads calls from: ``CallRailClient`` (tests may hand in a fake)."""

    def iter_calls(
        self, account_id: str, start: datetime, end: datetime, *, company_id: str | None = None
    ) -> Iterator[CallRecord | InvalidCall]: ...


class WorkspaceNotPollable(DomainError):
    """The workspace's CallRail integration is disabled or incomplete."""

    code = "workspace_not_pollable"


def integration_problem(integration: CallRailIntegration) -> str | None:
    """Why a workspace cannot be polled (``None`` when it can). ``disabled`` is a choice, not a problem."""
    if not integration.enabled:
        return "disabled"
    if not integration.account_id:
        return "integrations.callrail.account_id is not set"
    if not integration.api_key_parameter:
        return "integrations.callrail.api_key_parameter is not set"
    if not is_secret_of_kind(integration.api_key_parameter, CALLRAIL_KEYS_FOLDER):
        # Any stage's CallRail keys folder here: the poller's IAM grant narrows it to its own stage's.
        where = f"/gensail/{{stage}}/secrets/{CALLRAIL_KEYS_FOLDER}/, the only secrets the poller may read"
        return f"integrations.callrail.api_key_parameter {integration.api_key_parameter} is not under {where}"
    return None


@dataclass
class InvalidRecord:
    """A call record CallRail sent that could not be read: logged and counted, never stored."""

    call_id: str | None
    error: str


@dataclass
class PollReport:
    """What one poll of one workspace did."""

    workspace_id: str
    window_start: datetime
    window_end: datetime
    outcomes: Counter[IngestOutcome] = field(default_factory=Counter)
    invalid: list[InvalidRecord] = field(default_factory=list)
    rate_limited: bool = False
    completed: bool = False  # the whole window was read and stored
    stopped_early: bool = False  # ``stop_when`` ended the poll
    in_progress: int = 0  # calls without a duration yet, left for a later poll
    cursor: datetime | None = None  # where the cursor was moved to (None: not moved)

    @property
    def stored(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "window_start": format_timestamp(self.window_start),
            "window_end": format_timestamp(self.window_end),
            "outcomes": {outcome.value: count for outcome, count in self.outcomes.items()},
            "invalid": len(self.invalid),
            "rate_limited": self.rate_limited,
            "completed": self.completed,
            "stopped_early": self.stopped_early,
            "in_progress": self.in_progress,
            "cursor": format_timestamp(self.cursor) if self.cursor else None,
        }


# CallRail lists a call that is still going on without a duration. Such a call is not stored yet: the cursor stays
# before it, so a later poll reads it again once it has ended. One still without a duration this long after it
# started is stored as it is (the duration filter then sees 0 s), so a call CallRail never completes cannot hold
# the cursor back for good.
IN_PROGRESS_GRACE = timedelta(hours=4)


def poll_window(
    integration: CallRailIntegration, cursor: datetime | None, window_end: datetime, now: datetime
) -> tuple[datetime, datetime]:
    """The window a poll reads: from the cursor less the overlap (or the initial lookback) to ``window_end``."""
    end = window_end.replace(microsecond=0)  # CallRail takes whole seconds
    if cursor is None:
        start = now - timedelta(hours=integration.initial_lookback_hours)
    else:
        start = cursor - timedelta(minutes=integration.overlap_minutes)
    return start, end


def poll_workspace(
    workspace: Workspace,
    config: EffectiveConfig,
    client: CallSource,
    cursors: PollCursors,
    store: CallJobs,
    *,
    window_end: datetime,
    now: Callable[[], datetime] = utc_now,
    stop_when: Callable[[], bool] | None = None,
) -> PollReport:
    """Ingest the workspace's calls of one window and move its cursor over what was stored.

    A 429 ends the poll quietly (``rate_limited``); any other error moves the cursor to the last stored call and
    is raised again so the poll is retried. A call still in progress (``IN_PROGRESS_GRACE``) is left for a later
    poll, and the cursor goes no further than its start. ``stop_when`` ends the poll early, e.g. before the
    function's timeout; the cursor then stands at the last stored call. It is asked before each call is stored and
    before each record is read, so at most one page fetch (the client fetches pages as records are read) starts
    between two checks.
    """
    integration = config.integrations.callrail
    problem = integration_problem(integration)
    if problem:
        raise WorkspaceNotPollable(f"Workspace {workspace.workspace_id} cannot be polled: {problem}.")
    account_id = integration.account_id or ""
    start, end = poll_window(integration, cursors.read(workspace.workspace_id), window_end, now())
    report = PollReport(workspace_id=workspace.workspace_id, window_start=start, window_end=end)
    if start >= end:
        report.completed = True
        return report
    records = client.iter_calls(account_id, start, end, company_id=integration.company_id)
    last_stored: datetime | None = None
    held_from: datetime | None = None  # the start of the earliest call left for a later poll
    limit_reached_day: str | None = None
    try:
        for batch in _batches(records, report, stop_when):
            known = store.already_ingested(call.id for call in batch)
            for call in batch:
                if stop_when is not None and stop_when():
                    report.stopped_early = True
                    return report
                if call.id not in known and _in_progress(call, now()):
                    report.in_progress += 1
                    held_from = _earliest(held_from, call.start_time)
                    continue
                if call.id in known:
                    outcome = IngestOutcome.DUPLICATE
                else:
                    moment = now()
                    day = counter_day(moment)
                    outcome = store.create_from_call(
                        workspace, call, integration, moment, limit_reached=limit_reached_day == day
                    )
                    if outcome is IngestOutcome.RATE_LIMITED:
                        limit_reached_day = day
                report.outcomes[outcome] += 1
                last_stored = call.start_time
        report.completed = not report.stopped_early
    except CallRailRateLimited:
        report.rate_limited = True
    finally:
        position = _earliest(end if report.completed else last_stored, held_from)
        if position is not None and cursors.advance(workspace.workspace_id, position):
            report.cursor = position
    return report


def _in_progress(call: CallRecord, now: datetime) -> bool:
    return call.duration is None and now - call.start_time < IN_PROGRESS_GRACE


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    moments = [moment for moment in (first, second) if moment is not None]
    return min(moments) if moments else None


def _batches(
    records: Iterable[CallRecord | InvalidCall], report: PollReport, stop_when: Callable[[], bool] | None
) -> Iterator[list[CallRecord]]:
    """Valid calls in batches of one dedupe lookup; a batch fetched before an error is still handed out.

    ``stop_when`` is asked before each record is read; when it says stop, the calls read but not handed out are
    left for the next poll (the cursor has not passed them) and ``report.stopped_early`` is set.
    """
    batch: list[CallRecord] = []
    iterator = iter(records)
    try:
        while True:
            if stop_when is not None and stop_when():
                report.stopped_early = True
                return
            record = next(iterator, None)
            if record is None:
                break
            if isinstance(record, InvalidCall):
                call_id = record.raw.get("id")
                report.invalid.append(InvalidRecord(call_id=str(call_id) if call_id else None, error=record.error))
                continue
            batch.append(record)
            if len(batch) == BATCH_GET_LIMIT:
                yield batch
                batch = []
    except CallRailError:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


class WorkspacePolls:
    """Polls one workspace on request: its record, its effective config, its CallRail client, then the poll."""

    def __init__(
        self,
        registry: WorkspaceLookup,
        configs: ConfigReader,
        cursors: PollCursors,
        store: CallJobs,
        *,
        client_for: Callable[[CallRailIntegration], CallSource],
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._registry = registry
        self._configs = configs
        self._cursors = cursors
        self._store = store
        self._client_for = client_for
        self._now = now

    def poll(self, request: PollRequest, *, stop_when: Callable[[], bool] | None = None) -> PollReport:
        """Raises ``WorkspaceNotPollable`` for a workspace that is gone or no longer enabled since the dispatch,
        ``ConfigError`` for a malformed config, and the CallRail and AWS errors that deserve a retry.
        """
        workspace = self._registry.get_workspace(request.workspace_id)
        if workspace is None:
            raise WorkspaceNotPollable(f"Workspace {request.workspace_id} does not exist.")
        resolved = self._configs.resolve(workspace.path)
        resolved.raise_if_misplaced()  # its partner's cap would not be what an operator set: ingest nothing
        config = resolved.config
        problem = integration_problem(config.integrations.callrail)
        if problem:
            raise WorkspaceNotPollable(f"Workspace {workspace.workspace_id} cannot be polled: {problem}.")
        client = self._client_for(config.integrations.callrail)
        return poll_workspace(
            workspace,
            config,
            client,
            self._cursors,
            self._store,
            window_end=request.window_end,
            now=self._now,
            stop_when=stop_when,
        )


@dataclass
class SkippedWorkspace:
    workspace_id: str
    reason: str


@dataclass
class DispatchReport:
    """What one dispatch did: workspaces sent to the poll queue, and those left out and why."""

    window_end: datetime
    sent: int = 0
    requests: int = 0
    disabled: int = 0
    misconfigured: list[SkippedWorkspace] = field(default_factory=list)  # enabled but incomplete
    invalid_config: list[SkippedWorkspace] = field(default_factory=list)  # a malformed config document
    send_failures: list[SkippedWorkspace] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "window_end": format_timestamp(self.window_end),
            "sent": self.sent,
            "requests": self.requests,
            "disabled": self.disabled,
            "misconfigured": len(self.misconfigured),
            "invalid_config": len(self.invalid_config),
            "send_failures": len(self.send_failures),
        }


class PollRequest(BaseModel):
    """The poll queue's message: poll this workspace up to ``window_end``."""

    workspace_id: str
    window_end: AwareDatetime


def poll_message(workspace_id: str, window_end: datetime) -> str:
    """The poll queue's message body for one workspace."""
    return json.dumps({"workspace_id": workspace_id, "window_end": format_timestamp(window_end)})


def dispatch(
    registry: TenantRegistry,
    configs: ConfigStore,
    sqs: Any,
    queue_url: str,
    window_end: datetime,
    *,
    config_batch: int = CONFIG_BATCH,
) -> DispatchReport:
    """Send one poll message per workspace whose CallRail integration is enabled and complete.

    A workspace whose config cannot be resolved (a malformed document at any level) is reported and left out;
    the others are dispatched.
    """
    report = DispatchReport(window_end=window_end)
    outbox: list[str] = []
    workspaces = (tenant for tenant in registry.list(Entity.WORKSPACE) if isinstance(tenant, Workspace))
    for chunk in _chunks(workspaces, config_batch):
        for workspace_id, resolved in _resolve(configs, chunk, report).items():
            problem = integration_problem(resolved.config.integrations.callrail)
            if resolved.misplaced and problem != "disabled":
                report.invalid_config.append(SkippedWorkspace(workspace_id, resolved.misplaced[0]))
            elif problem == "disabled":
                report.disabled += 1
            elif problem:
                report.misconfigured.append(SkippedWorkspace(workspace_id, problem))
            else:
                outbox.append(workspace_id)
                if len(outbox) == SQS_BATCH:
                    _send(sqs, queue_url, outbox, window_end, report)
                    outbox = []
    if outbox:
        _send(sqs, queue_url, outbox, window_end, report)
    return report


def _resolve(configs: ConfigStore, chunk: list[Workspace], report: DispatchReport) -> dict[str, ResolvedConfig]:
    paths = [workspace.path for workspace in chunk]
    try:
        return configs.resolve_many(paths)
    except ConfigError:
        pass
    # One malformed document fails the whole batch: resolve one by one to find whose it is (the documents
    # fetched so far are cached, so this costs little).
    resolved: dict[str, ResolvedConfig] = {}
    for path in paths:
        try:
            resolved[path.workspace_id] = configs.resolve(path)
        except ConfigError as error:
            report.invalid_config.append(SkippedWorkspace(path.workspace_id, error.detail))
    return resolved


def _send(sqs: Any, queue_url: str, workspace_ids: list[str], window_end: datetime, report: DispatchReport) -> None:
    entries = [
        {"Id": str(index), "MessageBody": poll_message(workspace_id, window_end)}
        for index, workspace_id in enumerate(workspace_ids)
    ]
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    report.requests += 1
    failed = {entry["Id"]: entry for entry in response.get("Failed", [])}
    report.sent += len(entries) - len(failed)
    for entry_id, failure in failed.items():
        # Not retried here: the next schedule dispatches the workspace again, and its cursor loses nothing.
        report.send_failures.append(
            SkippedWorkspace(workspace_ids[int(entry_id)], f"{failure.get('Code')}: {failure.get('Message', '')}")
        )


def _chunks(items: Iterable[Workspace], size: int) -> Iterator[list[Workspace]]:
    chunk: list[Workspace] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
