"""Tenants of their own for the client's tests against the local runtime: one workspace, its keys and its jobs.

A workspace holds one pending or running requeue batch at a time, so each batch test takes a fresh workspace
instead of sharing the demo's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from infra.local.runtime import LocalRuntime
from shared.access import ScopeKind
from shared.auth.keys import ApiKeyRepository
from shared.aws import client as aws_client
from shared.jobs.models import Job
from shared.tenants.registry import TenantRegistry, Workspace
from tests.support.factories import make_job, store_jobs, stored_jobs


@dataclass
class LocalTenant:
    """A partner with one organization and one workspace, a key for each, and the workspace's skipped jobs."""

    runtime: LocalRuntime
    workspace: Workspace
    keys: dict[str, str]
    jobs: list[Job] = field(default_factory=list)

    @property
    def workspace_id(self) -> str:
        return self.workspace.workspace_id

    def add_skipped(self, count: int, duration: int) -> list[Job]:
        """``count`` skipped jobs of ``duration`` seconds (``duration_below_minimum``), each from its own CallRail
        call, with the call's dedupe item as ingestion writes it (what the lookup by source id reads)."""
        added = [
            make_job(self.workspace, duration=duration, minutes_ago=minutes + 1).model_copy(
                update={"source_id": f"CAL{uuid.uuid4().hex[:16]}"}
            )
            for minutes in range(count)
        ]
        store_jobs(added, self.runtime.table_name, source_calls=True)
        self.jobs += added
        return added

    def stored(self, jobs: list[Job]) -> list[Job]:
        """The stored state of each of ``jobs``, in their order (read in batches)."""
        found = stored_jobs(jobs, self.runtime.table_name)
        assert len(found) == len(jobs)
        return [found[job.job_id] for job in jobs]


def new_tenant(runtime: LocalRuntime, name: str) -> LocalTenant:
    """A fresh tenant chain in the runtime's table, with a key at each level."""
    suffix = uuid.uuid4().hex[:10]
    dynamodb = aws_client("dynamodb")
    registry = TenantRegistry(runtime.table_name, dynamodb)
    keys = ApiKeyRepository(runtime.table_name, dynamodb)
    partner = registry.create_partner(f"{name} partner", f"ptn_{suffix}")
    organization = registry.create_organization(partner.partner_id, f"{name} organization", f"org_{suffix}")
    workspace = registry.create_workspace(organization.organization_id, f"{name} workspace", f"ws_{suffix}")
    issued = {
        scope.value: keys.create(scope, tenant_id, f"{name} {scope.value} key", tenant_exists=True)[0]
        for scope, tenant_id in (
            (ScopeKind.PARTNER, partner.partner_id),
            (ScopeKind.ORGANIZATION, organization.organization_id),
            (ScopeKind.WORKSPACE, workspace.workspace_id),
        )
    }
    return LocalTenant(runtime, workspace, issued)
