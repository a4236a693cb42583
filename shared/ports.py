"""What the domain needs from the outside world, as Protocols.

The domain (``shared.jobs``, ``shared.processing``, ``shared.pipeline``, ``shared.ingest``) is written against
these; the AWS adapters satisfy them (DynamoDB: ``shared.jobs.repository``, ``shared.ingest``'s stores and
``shared.tenants.registry``; SSM: ``shared.config.hierarchy.ConfigStore``; the rest: ``shared.adapters``), and so
do the in-memory fakes of the unit tests (``tests/unit/fakes.py``). Only the handlers (``functions/``) choose which
to hand in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from pydantic import BaseModel

    from shared.access import Caller, TenantPath
    from shared.callrail.client import CallRecord
    from shared.config.hierarchy import ResolvedConfig
    from shared.config.model import CallRailIntegration
    from shared.ingest.jobs import IngestOutcome
    from shared.jobs.models import Job, JobPage, JobStatus
    from shared.parameters import ParameterPaths
    from shared.pipeline.analysis import Analysis
    from shared.pipeline.transcripts import Transcript
    from shared.tenants.registry import Workspace


class JobStore(Protocol):
    """Jobs, each status change one conditional write (``InvalidTransition``, ``RunSuperseded`` when refused)."""

    def get(self, job_id: str) -> Job | None: ...

    def find_by_source(self, source: str, source_id: str) -> Job | None: ...

    def requeue(self, job_id: str, caller: Caller, now: str) -> Job: ...

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
    ) -> Job: ...

    def list_jobs(
        self, workspace_id: str, status: JobStatus | None, limit: int, start_key: dict[str, Any] | None
    ) -> JobPage: ...


class ConfigReader(Protocol):
    """A tenant's effective processing configuration, and where its stage keeps secrets."""

    @property
    def paths(self) -> ParameterPaths: ...

    def resolve(self, path: TenantPath, fresh_since: float | None = None) -> ResolvedConfig: ...


class PipelineLauncher(Protocol):
    """Starts a job's pipeline run; ``False`` when that run was started before (a redelivery)."""

    def launch(self, job: Job) -> bool: ...


class EventPublisher(Protocol):
    """Announces finished jobs."""

    def job_completed(self, job: Job, result_key: str) -> None: ...

    def job_failed(self, job: Job, failure: dict[str, Any]) -> None: ...


class ArtifactStore(Protocol):
    """A job's recordings, transcripts, analyses and results, by key."""

    @property
    def bucket(self) -> str: ...

    def put_json(self, key: str, document: BaseModel | dict[str, Any]) -> str: ...

    def get_json(self, key: str) -> dict[str, Any]: ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str: ...

    def exists(self, key: str) -> bool: ...


class Transcriber(Protocol):
    """A speech-to-text provider working on a job's recording (provider ``aws_transcribe``)."""

    def start(
        self, job: Job, job_name: str, language_code: str, *, recording_headers: Mapping[str, str] | None = None
    ) -> None: ...

    def check(self, job_name: str) -> Transcript | None: ...


class Analyzer(Protocol):
    """A model that reads a transcript (provider ``bedrock``)."""

    def analyze(self, transcript: Transcript, keywords: list[str]) -> Analysis: ...


class WorkspaceLookup(Protocol):
    """Workspaces by id (``None``: no such workspace)."""

    def get_workspace(self, workspace_id: str) -> Workspace | None: ...


class PollCursors(Protocol):
    """Where each workspace's CallRail poll left off; a cursor only ever moves forward."""

    def read(self, workspace_id: str) -> datetime | None: ...

    def advance(self, workspace_id: str, position: datetime) -> bool: ...


class CallJobs(Protocol):
    """Jobs created from calls: each call at most once, within the day's limits."""

    def already_ingested(self, call_ids: Iterable[str]) -> set[str]: ...

    def create_from_call(
        self,
        workspace: Workspace,
        call: CallRecord,
        integration: CallRailIntegration,
        now: datetime,
        *,
        limit_reached: bool = False,
    ) -> IngestOutcome: ...
