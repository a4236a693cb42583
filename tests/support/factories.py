"""Tenants and jobs for tests and benchmarks, written through the repositories like every other item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared import schema
from shared.access import ScopeKind
from shared.aws import client as aws_client
from shared.batches.models import BatchSelection, CreatedBy, RequeueBatch, new_batch_id
from shared.batches.store import BatchStore
from shared.clock import format_timestamp, now_iso
from shared.dynamo import to_item
from shared.jobs.ids import new_job_id
from shared.jobs.models import Job, JobStatus, SkipReason
from shared.jobs.repository import JobRepository, job_from_item, job_item
from shared.tenants.registry import TenantRegistry, Workspace
from tests.support.aws import TABLE_NAME, get_items, put_items


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


def store_jobs(jobs: list[Job], table_name: str = TABLE_NAME, *, source_calls: bool = False) -> list[Job]:
    """Many new jobs in stored form, written in batches (as ``JobRepository.create`` stores each, less its check
    that the id is free: the ids of one process never repeat, see ``shared.jobs.ids``); with ``source_calls``, each
    with its call's dedupe item too (``store_source_call``)."""
    assert len({job.job_id for job in jobs}) == len(jobs)
    items = [job_item(job) for job in jobs] + ([source_call_item(job) for job in jobs] if source_calls else [])
    put_items(aws_client("dynamodb"), items, table_name)
    return jobs


def stored_jobs(jobs: list[Job], table_name: str = TABLE_NAME) -> dict[str, Job]:
    """The stored state of ``jobs`` by id, read in batches (the ones not found are left out)."""
    keys = [to_item(schema.job_key(job.job_id)) for job in jobs]
    found = (job_from_item(item) for item in get_items(aws_client("dynamodb"), keys, table_name))
    return {job.job_id: job for job in found}


def source_call_item(job: Job) -> dict[str, Any]:
    """The dedupe item ingestion writes beside a job made from a call (what ``GET /jobs/lookup`` reads)."""
    item = {
        **schema.source_call_key(job.source, job.source_id or ""),
        "entity": schema.Entity.SOURCE_CALL,
        "job_id": job.job_id,
        "created_at": job.created_at,
    }
    return to_item(item)


def store_source_call(job: Job) -> None:
    aws_client("dynamodb").put_item(TableName=TABLE_NAME, Item=source_call_item(job))


def store_batch(*workspaces: Workspace, dry_run: bool = False) -> RequeueBatch:
    """A pending requeue batch over ``workspaces`` (one partner), created through the store as the API does."""
    batch = RequeueBatch(
        batch_id=new_batch_id(),
        partner_id=workspaces[0].partner_id,
        organization_ids=sorted({workspace.organization_id for workspace in workspaces}),
        dry_run=dry_run,
        selection=BatchSelection(workspace_ids=[workspace.workspace_id for workspace in workspaces]),
        created_at=now_iso(),
        created_by=CreatedBy(scope=ScopeKind.PARTNER, key_id="key_factory"),
    )
    return BatchStore(TABLE_NAME, aws_client("dynamodb")).create(batch)
