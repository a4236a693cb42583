"""GET /api/v1/jobs/lookup: the job of a CallRail call, found through the dedupe item ingestion writes."""

from __future__ import annotations

import pytest

from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.support.factories import store_job, store_source_call

LOOKUP = "/api/v1/jobs/lookup"


def test_finds_the_job_of_a_call(api: ApiCall, tenants: Tenants) -> None:
    job = store_job(tenants.workspace(0))
    store_source_call(job)
    store_source_call(store_job(tenants.workspace(0), duration=20))

    reply = api("GET", LOOKUP, tenants.callers["org_00"], query={"source": "callrail", "source_id": str(job.source_id)})

    assert reply.status == 200
    assert reply.body["job_id"] == job.job_id
    assert (reply.body["source"], reply.body["source_id"]) == ("callrail", job.source_id)
    assert reply.body["status"] == "skipped"


def test_an_unknown_call_is_not_found(api: ApiCall, tenants: Tenants) -> None:
    reply = api("GET", LOOKUP, tenants.callers["ptn_0"], query={"source": "callrail", "source_id": "CAL-unknown"})

    assert reply.status == 404
    assert reply.body["code"] == "job_not_found"


def test_a_call_of_another_tenant_is_forbidden(api: ApiCall, tenants: Tenants) -> None:
    job = store_job(tenants.workspace(4))
    store_source_call(job)

    reply = api("GET", LOOKUP, tenants.callers["ptn_0"], query={"source": "callrail", "source_id": str(job.source_id)})

    assert reply.status == 403
    assert reply.body["code"] == "forbidden"
    assert job.job_id not in reply.body["detail"]


@pytest.mark.parametrize(
    "query",
    [{"source": "callrail"}, {"source_id": "CAL1"}, {"source": "demo", "source_id": "CAL1"}, {}],
)
def test_a_missing_parameter_or_another_source_is_a_validation_error(
    api: ApiCall, tenants: Tenants, query: dict[str, str]
) -> None:
    reply = api("GET", LOOKUP, tenants.callers["ws_000"], query=query or None)

    assert reply.status == 400
    assert reply.body["code"] == "validation_error"
