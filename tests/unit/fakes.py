"""In-memory fakes of the ports in ``shared.ports``: the domain runs against them with no AWS and no moto.

Each fake keeps the promise its Protocol documents (a status change is refused when the job moved on, a cursor
only moves forward, a run is started once) and records what the domain asked of it, so a test can assert what a
user would notice: the job's status, the events sent, the runs started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shared.access import Caller, TenantPath
from shared.callrail.client import CallRecord
from shared.config.hierarchy import ConfigLevel, ConfigSource, ResolvedConfig, merge_levels
from shared.config.model import CallRailIntegration
from shared.errors import AccessDenied, InvalidTransition, JobNotFound, JobNotSkipped, RunSuperseded
from shared.ingest.jobs import IngestOutcome, job_for_call
from shared.jobs.models import Job, JobEvent, JobPage, JobStatus, can_transition
from shared.parameters import ParameterPaths
from shared.pipeline.errors import PermanentStageError
from shared.pipeline.transcripts import Transcript
from shared.processing.intake import execution_name
from shared.tenants.registry import Workspace

CONFIG_PREFIX = "/gensail/test/config"


class FakeJobStore:
    """Jobs in a dict, with the conditional writes of ``JobRepository``."""

    def __init__(self, *jobs: Job) -> None:
        self.jobs: dict[str, Job] = {job.job_id: job for job in jobs}

    def add(self, job: Job) -> Job:
        self.jobs[job.job_id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def find_by_source(self, source: str, source_id: str) -> Job | None:
        return next((job for job in self.jobs.values() if (job.source, job.source_id) == (source, source_id)), None)

    def requeue(self, job_id: str, caller: Caller, now: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"Job {job_id} not found.")
        if not caller.covers_item(job.model_dump()):
            raise AccessDenied(f"Your API key has no access to the workspace of job {job_id}.")
        if job.status is not JobStatus.SKIPPED:
            raise JobNotSkipped(f"Job {job_id} is not in 'skipped' status (current status: '{job.status}').")
        metadata = {
            **job.source_metadata,
            "requeue_count": job.requeue_count + 1,
            "last_requeued_at": now,
            "last_requeued_by": caller.scope.value,
            "last_requeued_by_key": caller.key_id,
            "previous_skipped_reason": job.skipped_reason,
            "previous_skipped_at": job.skipped_at,
        }
        event = JobEvent(status=JobStatus.QUEUED, at=now, cause=f"requeued by {caller.scope} key {caller.key_id}")
        return self._write(
            job,
            status=JobStatus.QUEUED,
            updated_at=now,
            source_metadata=metadata,
            skipped_reason=None,
            skipped_at=None,
            history=[*job.history, event],
        )

    def transition(
        self,
        job_id: str,
        source: JobStatus,
        target: JobStatus,
        *,
        now: str,
        cause: str,
        set_fields: dict[str, Any] | None = None,
        requeue_count: int | None = None,
    ) -> Job:
        if not can_transition(source, target):
            raise InvalidTransition(f"A job cannot move from '{source}' to '{target}'.")
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"Job {job_id} not found.")
        if requeue_count is not None and job.requeue_count != requeue_count:
            raise RunSuperseded(f"Job {job_id} was requeued (requeue #{job.requeue_count}).")
        if job.status is not source:
            raise InvalidTransition(f"Job {job_id} is '{job.status}', not '{source}'.")
        event = JobEvent(status=target, at=now, cause=cause)
        return self._write(job, status=target, updated_at=now, history=[*job.history, event], **(set_fields or {}))

    def list_jobs(
        self, workspace_id: str, status: JobStatus | None, limit: int, start_key: dict[str, Any] | None = None
    ) -> JobPage:
        matching = sorted(
            (job for job in self.jobs.values() if job.workspace_id == workspace_id and status in (None, job.status)),
            key=lambda job: job.job_id,
            reverse=True,
        )
        if start_key is not None:
            matching = [job for job in matching if job.job_id < start_key["job_id"]]
        page = matching[:limit]
        more = len(matching) > limit
        return JobPage(jobs=page, last_key={"job_id": page[-1].job_id} if more else None)

    def _write(self, job: Job, **changes: Any) -> Job:
        written = Job.model_validate({**job.model_dump(), **changes})
        self.jobs[job.job_id] = written
        return written


class FakeConfig:
    """Config documents per level in a dict, merged like ``ConfigStore`` merges the ones it reads from SSM."""

    def __init__(self, prefix: str = CONFIG_PREFIX) -> None:
        self.paths = ParameterPaths.of_config_prefix(prefix)
        self.documents: dict[tuple[ConfigLevel, str | None], dict[str, Any]] = {}
        self.resolved_fresh_since: list[float | None] = []

    def set(self, level: ConfigLevel, tenant_id: str | None, document: dict[str, Any]) -> None:
        self.documents[(level, tenant_id)] = document

    def resolve(self, path: TenantPath, fresh_since: float | None = None) -> ResolvedConfig:
        self.resolved_fresh_since.append(fresh_since)
        chain = [
            (ConfigLevel.PLATFORM, None),
            (ConfigLevel.PARTNER, path.partner_id),
            (ConfigLevel.ORGANIZATION, path.organization_id),
            (ConfigLevel.WORKSPACE, path.workspace_id),
        ]
        documents = [
            (ConfigSource(level=level.value), self.documents[(level, tenant)])
            for level, tenant in chain
            if (level, tenant) in self.documents
        ]
        return merge_levels(documents, self.paths)


class FakeLauncher:
    """Pipeline runs by execution name; a second start of the same run is a no-op, as in Step Functions."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    def launch(self, job: Job) -> bool:
        name = execution_name(job)
        if name in self.runs:
            return False
        self.runs.append(name)
        return True


class FakeEvents:
    """The events the pipeline announced, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def job_completed(self, job: Job, result_key: str) -> None:
        self.sent.append(("Job Completed", job.job_id, {"result_key": result_key}))

    def job_failed(self, job: Job, failure: dict[str, Any]) -> None:
        self.sent.append(("Job Failed", job.job_id, {"failure": failure}))


class FakeArtifacts:
    """Objects by key in a dict; a missing key is a permanent error, as with ``S3ArtifactStore``."""

    bucket = "fake-artifacts"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_json(self, key: str, document: BaseModel | dict[str, Any]) -> str:
        import json

        body = document.model_dump_json() if isinstance(document, BaseModel) else json.dumps(document)
        return self.put_bytes(key, body.encode(), "application/json")

    def get_json(self, key: str) -> dict[str, Any]:
        import json

        if key not in self.objects:
            raise PermanentStageError(f"Artifact {key} does not exist")
        document: dict[str, Any] = json.loads(self.objects[key])
        return document

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        self.objects[key] = data
        return key

    def exists(self, key: str) -> bool:
        return key in self.objects


class FakeTranscriber:
    """A transcription provider that finishes when the test says so."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, dict[str, str] | None]] = []
        self.finished: dict[str, Transcript] = {}

    def start(
        self, job: Job, job_name: str, language_code: str, *, recording_headers: Mapping[str, str] | None = None
    ) -> None:
        self.started.append((job_name, language_code, dict(recording_headers) if recording_headers else None))

    def check(self, job_name: str) -> Transcript | None:
        return self.finished.get(job_name)


class FakeWorkspaces:
    def __init__(self, *workspaces: Workspace) -> None:
        self.workspaces = {workspace.workspace_id: workspace for workspace in workspaces}

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        return self.workspaces.get(workspace_id)


class FakeCursors:
    def __init__(self) -> None:
        self.positions: dict[str, datetime] = {}

    def read(self, workspace_id: str) -> datetime | None:
        return self.positions.get(workspace_id)

    def advance(self, workspace_id: str, position: datetime) -> bool:
        current = self.positions.get(workspace_id)
        if current is not None and current >= position:
            return False
        self.positions[workspace_id] = position
        return True


class FakeCallJobs:
    """Jobs created from calls, once per call id, with a per-workspace daily cap like the table's counters."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}  # by call id

    def already_ingested(self, call_ids: Iterable[str]) -> set[str]:
        return {call_id for call_id in call_ids if call_id in self.jobs}

    def create_from_call(
        self,
        workspace: Workspace,
        call: CallRecord,
        integration: CallRailIntegration,
        now: datetime,
        *,
        limit_reached: bool = False,
    ) -> IngestOutcome:
        if call.id in self.jobs:
            return IngestOutcome.DUPLICATE
        today = sum(1 for job in self.jobs.values() if job.workspace_id == workspace.workspace_id)
        if integration.skip_all_on_ingest:
            outcome, reason = IngestOutcome.SKIPPED_ALL, "skip_all_on_ingest"
        elif limit_reached or today >= integration.max_calls_per_workspace:
            outcome, reason = IngestOutcome.RATE_LIMITED, "rate_limit"
        else:
            outcome, reason = IngestOutcome.QUEUED, None
        self.jobs[call.id] = job_for_call(workspace, call, integration.account_id or "", now, reason)
        return outcome


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
