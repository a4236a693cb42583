"""Every route x every scope x own / foreign tenant: a key reaches its own tenants' jobs and nothing else."""

from __future__ import annotations

import pytest

from shared.jobs.models import JobStatus
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall, ApiReply
from tests.support.factories import store_job

# The job lives in workspace ws_000 (org_00, partner ptn_0).
OWN = {"workspace": "ws_000", "organization": "org_00", "partner": "ptn_0"}
# A sibling at each level: same partner or organization where possible, so only the scope decides.
FOREIGN = {"workspace": "ws_001", "organization": "org_01", "partner": "ptn_1"}
ROUTES = ["requeue", "get", "list"]


def _call(api: ApiCall, route: str, tenants: Tenants, tenant_id: str, job_id: str) -> ApiReply:
    caller = tenants.callers[tenant_id]
    if route == "requeue":
        return api("PATCH", f"/api/v1/jobs/{job_id}/status", caller, {"status": "queued"})
    if route == "get":
        return api("GET", f"/api/v1/jobs/{job_id}", caller)
    return api("GET", "/api/v1/jobs", caller, query={"workspace_id": "ws_000", "status": "skipped"})


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("scope", sorted(OWN))
def test_own_tenant_is_allowed(api: ApiCall, tenants: Tenants, route: str, scope: str) -> None:
    job = store_job(tenants.workspace(0), status=JobStatus.SKIPPED)

    reply = _call(api, route, tenants, OWN[scope], job.job_id)

    assert reply.status == 200
    if route == "list":
        assert [listed["job_id"] for listed in reply.body["jobs"]] == [job.job_id]
    else:
        assert reply.body["job_id"] == job.job_id


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("scope", sorted(FOREIGN))
def test_foreign_tenant_is_forbidden(api: ApiCall, tenants: Tenants, route: str, scope: str) -> None:
    job = store_job(tenants.workspace(0), status=JobStatus.SKIPPED)

    reply = _call(api, route, tenants, FOREIGN[scope], job.job_id)

    assert reply.status == 403
    assert reply.body["code"] == "forbidden"
    assert job.job_id not in str(reply.body.get("jobs", ""))


def test_a_forbidden_requeue_changes_nothing(api: ApiCall, tenants: Tenants) -> None:
    job = store_job(tenants.workspace(0))
    for tenant_id in FOREIGN.values():
        _call(api, "requeue", tenants, tenant_id, job.job_id)

    reply = _call(api, "get", tenants, "ws_000", job.job_id)

    assert reply.body["status"] == "skipped"
    assert "requeue_count" not in reply.body["source_metadata"]
