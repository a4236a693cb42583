"""Tenants and jobs for tests and benchmarks, written through the repositories like every other item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.aws import client as aws_client
from shared.clock import format_timestamp
from shared.jobs.ids import new_job_id
from shared.jobs.models import Job, JobStatus, SkipReason
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry, Workspace
from tests.support.aws import TABLE_NAME


def create_workspace(suffix: str, name: str) -> Workspace:
    """A workspace ``ws_{suffix}`` in organization ``org_{suffix}`` of partner ``ptn_{suffix}``, all named ``name``."""
    registry = TenantRegistry(TABLE_NAME, aws_client("dynamodb"))
    registry.create_partner(f"{name} partner", f"ptn_{suffix}")
    registry.create_organization(f"ptn_{suffix}", f"{name} organization", f"org_{suffix}")
    return registry.create_workspace(f"org_{suffix}", f"{name} workspace", f"ws_{suffix}")


def make_job(
    workspace: Workspace,
    status: JobStatus = JobStatus.SKIPPED,
    duration: int = 12,
    minutes_ago: int = 0,
    skipped_reason: str | None = None,
    source_metadata: dict[str, object] | None = None,
) -> Job:
    created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    stamp = format_timestamp(created)
    skipped = status is JobStatus.SKIPPED
    return Job(
        job_id=new_job_id(created),
        **workspace.path.model_dump(),
        status=status,
        skipped_reason=(skipped_reason or SkipReason.duration_below_minimum(duration, 30)) if skipped else None,
        skipped_at=stamp if skipped else None,
        created_at=stamp,
        updated_at=stamp,
        source="callrail",
        source_id=f"CAL{created.timestamp():.0f}{duration}",
        duration_seconds=duration,
        source_metadata=source_metadata if source_metadata is not None else {"direction": "inbound", "answered": True},
    )


def store_job(workspace: Workspace, **fields: object) -> Job:
    return JobRepository(TABLE_NAME, aws_client("dynamodb")).create(make_job(workspace, **fields))  # type: ignore[arg-type]
