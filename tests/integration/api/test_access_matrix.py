"""Every route x every scope x own / foreign tenant: a key reaches its own tenants' jobs and batches, nothing else."""

from __future__ import annotations

import pytest

from shared.aws import client as aws_client
from shared.batches.store import BatchStore
from shared.jobs.models import Job, JobStatus
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall, ApiReply
from tests.support.aws import TABLE_NAME
from tests.support.factories import store_batch, store_job, store_source_call

# The job lives in workspace ws_000 (org_00, partner ptn_0).
OWN = {"workspace": "ws_000", "organization": "org_00", "partner": "ptn_0"}
# A sibling at each level: same partner or organization where possible, so only the scope decides.
FOREIGN = {"workspace": "ws_001", "organization": "org_01", "partner": "ptn_1"}
ROUTES = ["requeue", "get", "list", "lookup", "create-batch", "get-batch", "list-batches", "cancel-batch"]
BATCHES = "/api/v1/requeue-batches"


def _call(api: ApiCall, route: str, tenants: Tenants, tenant_id: str, job: Job) -> ApiReply:
    caller = tenants.callers[tenant_id]
    batch_id = (
        store_batch(tenants.workspace(0)).batch_id if route in ("get-batch", "list-batches", "cancel-batch") else ""
    )
    lookup = {"source": "callrail", "source_id": str(job.source_id)}
    requests: dict[str, tuple[str, str, dict[str, object] | None, dict[str, str] | None]] = {
        "requeue": ("PATCH", f"/api/v1/jobs/{job.job_id}/status", {"status": "queued"}, None),
        "get": ("GET", f"/api/v1/jobs/{job.job_id}", None, None),
        "list": ("GET", "/api/v1/jobs", None, {"workspace_id": "ws_000", "status": "skipped"}),
        "lookup": ("GET", "/api/v1/jobs/lookup", None, lookup),
        "create-batch": ("POST", BATCHES, {"workspace_ids": ["ws_000"], "dry_run": True}, None),
        "get-batch": ("GET", f"{BATCHES}/{batch_id}", None, None),
        "list-batches": ("GET", BATCHES, None, {"workspace_id": "ws_000"}),
        "cancel-batch": ("POST", f"{BATCHES}/{batch_id}/cancel", None, None),
    }
    method, path, body, query = requests[route]
    return api(method, path, caller, body, query=query)


def _skipped_job(tenants: Tenants) -> Job:
    """A skipped job of ws_000 made from a CallRail call (so that the lookup route finds it)."""
    job = store_job(tenants.workspace(0), status=JobStatus.SKIPPED)
    store_source_call(job)
    return job


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("scope", sorted(OWN))
def test_own_tenant_is_allowed(api: ApiCall, tenants: Tenants, route: str, scope: str) -> None:
    job = _skipped_job(tenants)

    reply = _call(api, route, tenants, OWN[scope], job)

    assert reply.status == (202 if route in ("create-batch", "cancel-batch") else 200)
    if route == "list":
        assert [listed["job_id"] for listed in reply.body["jobs"]] == [job.job_id]
    elif route == "list-batches":
        assert len(reply.body["batches"]) == 1
    elif route.endswith("batch"):
        assert reply.body["selection"]["workspace_ids"] == ["ws_000"]
    else:
        assert reply.body["job_id"] == job.job_id


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("scope", sorted(FOREIGN))
def test_foreign_tenant_is_forbidden(api: ApiCall, tenants: Tenants, route: str, scope: str) -> None:
    job = _skipped_job(tenants)

    reply = _call(api, route, tenants, FOREIGN[scope], job)

    assert reply.status == 403
    assert reply.body["code"] == "forbidden"
    assert job.job_id not in str(reply.body.get("jobs", ""))
    assert "batches" not in reply.body


def test_a_forbidden_requeue_changes_nothing(api: ApiCall, tenants: Tenants) -> None:
    job = store_job(tenants.workspace(0))
    for tenant_id in FOREIGN.values():
        _call(api, "requeue", tenants, tenant_id, job)

    reply = _call(api, "get", tenants, "ws_000", job)

    assert reply.body["status"] == "skipped"
    assert "requeue_count" not in reply.body["source_metadata"]


def test_a_forbidden_cancel_changes_nothing(api: ApiCall, tenants: Tenants) -> None:
    batch = store_batch(tenants.workspace(0))
    for tenant_id in FOREIGN.values():
        api("POST", f"{BATCHES}/{batch.batch_id}/cancel", tenants.callers[tenant_id])

    reply = api("GET", f"{BATCHES}/{batch.batch_id}", tenants.callers["ws_000"])

    assert reply.status == 200
    stored = BatchStore(TABLE_NAME, aws_client("dynamodb")).get(batch.batch_id)
    assert stored is not None
    assert stored.cancel_requested_at is None
