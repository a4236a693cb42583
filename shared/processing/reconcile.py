"""Find jobs left in ``queued``: the safety net under the stream, so no job is lost between stages."""

from __future__ import annotations

from collections.abc import Iterator

from shared import schema
from shared.jobs.models import Job, JobStatus
from shared.jobs.repository import JobRepository
from shared.tenants.registry import TenantRegistry, Workspace

_PAGE = 100


def stuck_queued_jobs(registry: TenantRegistry, jobs: JobRepository, updated_before: str) -> Iterator[Job]:
    """Every job, in every workspace, that has been ``queued`` since before ``updated_before``."""
    for workspace in registry.list(schema.Entity.WORKSPACE):
        assert isinstance(workspace, Workspace)
        start_key = None
        while True:
            page = jobs.list_jobs(workspace.workspace_id, JobStatus.QUEUED, _PAGE, start_key)
            yield from (job for job in page.jobs if job.updated_at < updated_before)
            if page.last_key is None:
                break
            start_key = page.last_key
