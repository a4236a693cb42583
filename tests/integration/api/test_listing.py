"""GET /api/v1/jobs and GET /api/v1/jobs/{job_id}: newest first, paged with signed cursors, scoped."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from shared.jobs.models import JobStatus
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.support.factories import store_job


@pytest.fixture
def mixed_jobs(tenants: Tenants) -> dict[str, list[str]]:
    """Seven skipped and three completed jobs in workspace 0, one skipped job in workspace 1."""
    workspace = tenants.workspace(0)
    ids: dict[str, list[str]] = {"skipped": [], "completed": []}
    for minutes_ago in range(10):
        status = JobStatus.COMPLETED if minutes_ago % 3 == 2 else JobStatus.SKIPPED
        job = store_job(workspace, status=status, minutes_ago=minutes_ago, duration=10 + minutes_ago)
        ids[status.value].append(job.job_id)
    store_job(tenants.workspace(1))
    return ids


def test_lists_skipped_jobs_newest_first(api: ApiCall, tenants: Tenants, mixed_jobs: dict[str, list[str]]) -> None:
    workspace = tenants.workspace(0)

    reply = api("GET", "/api/v1/jobs", tenants.callers[workspace.workspace_id], query={"status": "skipped"})

    assert reply.status == 200
    assert [job["job_id"] for job in reply.body["jobs"]] == mixed_jobs["skipped"]
    assert all(isinstance(job["job_id"], str) and job["job_id"].isdigit() for job in reply.body["jobs"])
    assert {job["skipped_reason"] for job in reply.body["jobs"]} >= {"duration_below_minimum:10<30"}
    assert reply.body["next_cursor"] is None


def test_lists_every_status_when_none_is_given(
    api: ApiCall, tenants: Tenants, mixed_jobs: dict[str, list[str]]
) -> None:
    workspace = tenants.workspace(0)

    reply = api(
        "GET",
        "/api/v1/jobs",
        tenants.callers[workspace.organization_id],
        query={"workspace_id": workspace.workspace_id},
    )

    assert len(reply.body["jobs"]) == 10


def test_pages_follow_the_cursor_to_the_end(api: ApiCall, tenants: Tenants, mixed_jobs: dict[str, list[str]]) -> None:
    workspace = tenants.workspace(0)
    caller = tenants.callers[workspace.partner_id]
    query = {"status": "skipped", "workspace_id": workspace.workspace_id, "limit": "3"}
    seen: list[str] = []

    reply = api("GET", "/api/v1/jobs", caller, query=query)
    pages = 1
    while reply.body["next_cursor"]:
        seen += [job["job_id"] for job in reply.body["jobs"]]
        reply = api("GET", "/api/v1/jobs", caller, query={**query, "cursor": reply.body["next_cursor"]})
        pages += 1
    seen += [job["job_id"] for job in reply.body["jobs"]]

    assert seen == mixed_jobs["skipped"]
    assert pages == 3


def test_a_changed_cursor_is_refused(api: ApiCall, tenants: Tenants, mixed_jobs: dict[str, list[str]]) -> None:
    workspace = tenants.workspace(0)
    caller = tenants.callers[workspace.workspace_id]
    first = api("GET", "/api/v1/jobs", caller, query={"status": "skipped", "limit": "2"})
    cursor = first.body["next_cursor"]
    payload, _, signature = cursor.partition(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature

    replies = [
        api("GET", "/api/v1/jobs", caller, query={"status": "skipped", "limit": "2", "cursor": tampered}),
        # the same cursor for another query
        api("GET", "/api/v1/jobs", caller, query={"status": "completed", "limit": "2", "cursor": cursor}),
        # the same cursor replayed by another key
        api(
            "GET",
            "/api/v1/jobs",
            tenants.callers[workspace.organization_id],
            query={"status": "skipped", "limit": "2", "cursor": cursor, "workspace_id": workspace.workspace_id},
        ),
        api("GET", "/api/v1/jobs", caller, query={"status": "skipped", "cursor": "garbage"}),
        # a signature with non-ASCII characters (API Gateway URL-decodes %C3%A9 before the function sees it)
        api("GET", "/api/v1/jobs", caller, query={"status": "skipped", "limit": "2", "cursor": f"{payload}.é"}),
    ]

    for reply in replies:
        assert reply.status == 400
        assert reply.body["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_limit_is_bounded(api: ApiCall, tenants: Tenants, limit: str) -> None:
    reply = api("GET", "/api/v1/jobs", tenants.callers["ws_000"], query={"limit": limit})

    assert reply.status == 400
    assert reply.body["code"] == "validation_error"
    assert reply.body["errors"][0]["location"] == "query.limit"


@pytest.mark.parametrize(
    ("caller", "query", "answer"),
    [
        ("ws_000", {"status": "lost"}, (400, "validation_error")),
        # an unknown workspace is refused like a foreign one
        ("ptn_0", {"workspace_id": "ws_nope"}, (403, "forbidden")),
    ],
    ids=["unknown status", "unknown workspace"],
)
def test_a_listing_query_the_caller_cannot_ask_is_a_problem(
    api: ApiCall, tenants: Tenants, caller: str, query: dict[str, str], answer: tuple[int, str]
) -> None:
    reply = api("GET", "/api/v1/jobs", tenants.callers[caller], query=query)

    assert (reply.status, reply.body["code"]) == answer


@pytest.mark.parametrize("workspace_query", [{}, {"workspace_id": ""}], ids=["absent", "empty"])
def test_organization_and_partner_keys_must_name_a_workspace(
    api: ApiCall, tenants: Tenants, workspace_query: dict[str, str]
) -> None:
    for tenant_id, scope in (("org_00", "an organization"), ("ptn_0", "a partner")):
        reply = api("GET", "/api/v1/jobs", tenants.callers[tenant_id], query={"status": "skipped", **workspace_query})
        assert reply.status == 400
        assert reply.body["code"] == "workspace_required"
        assert reply.body["detail"] == f"A key scoped to {scope} must name the workspace to list (workspace_id)."


def test_a_workspace_key_with_an_empty_workspace_id_lists_its_own_workspace(
    api: ApiCall, tenants: Tenants, mixed_jobs: dict[str, list[str]]
) -> None:
    # `workspace_id=` is the same as leaving it out, for every scope
    workspace = tenants.workspace(0)

    reply = api(
        "GET", "/api/v1/jobs", tenants.callers[workspace.workspace_id], query={"status": "skipped", "workspace_id": ""}
    )

    assert reply.status == 200
    assert [job["job_id"] for job in reply.body["jobs"]] == mixed_jobs["skipped"]


def test_get_job_returns_it_with_its_metadata(api: ApiCall, tenants: Tenants) -> None:
    workspace = tenants.workspace(2)
    job = store_job(workspace, duration=7)
    api("PATCH", f"/api/v1/jobs/{job.job_id}/status", tenants.callers[workspace.workspace_id], {"status": "queued"})

    reply = api("GET", f"/api/v1/jobs/{job.job_id}", tenants.callers[workspace.partner_id])

    assert reply.status == 200
    assert reply.body["job_id"] == job.job_id
    assert reply.body["status"] == "queued"
    assert reply.body["duration_seconds"] == 7
    assert reply.body["source_metadata"]["requeue_count"] == 1
    assert reply.body["source_metadata"]["last_requeued_by"] == "workspace"
    assert reply.body["source_metadata"]["previous_skipped_reason"] == "duration_below_minimum:7<30"


def test_an_aws_failure_is_a_500_problem_without_internals(api: ApiCall, tenants: Tenants) -> None:
    from shared.aws import client

    job = store_job(tenants.workspace(0))
    with Stubber(client("dynamodb")) as stub:
        stub.add_client_error("get_item", service_error_code="InternalServerError", http_status_code=500)
        reply = api("GET", f"/api/v1/jobs/{job.job_id}", tenants.callers["ws_000"])

    assert reply.status == 500
    assert reply.body["code"] == "internal_error"
    assert "InternalServerError" not in reply.body["detail"]
