"""The OpenAPI document: generated from the code, committed, served, and describing the real error bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from functions.api.handler import openapi_document
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall, ApiReply
from tests.support.factories import store_job

COMMITTED = Path(__file__).parents[3] / "docs" / "openapi.json"


def test_committed_document_matches_the_code() -> None:
    # Regenerate with `make openapi` when this fails.
    assert json.loads(COMMITTED.read_text()) == openapi_document()


def test_the_api_serves_the_same_document(api: ApiCall) -> None:
    reply = api("GET", "/api/v1/openapi.json", None)

    assert reply.status == 200
    assert reply.body == openapi_document()
    assert reply.body["openapi"].startswith("3.1")


def test_no_operation_documents_a_status_the_api_never_sends() -> None:
    for operations in openapi_document()["paths"].values():
        for operation in operations.values():
            assert "422" not in operation["responses"]


def _response_schema(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    response = document["paths"][path][method]["responses"][str(status)]
    (content,) = response["content"].values()
    return {**content["schema"], "components": document["components"]}


def _check(document: dict[str, Any], path: str, method: str, reply: ApiReply) -> None:
    schema = _response_schema(document, path, method, reply.status)
    jsonschema.validate(reply.body, json.loads(json.dumps(schema).replace("#/components/", "#/components/")))


@pytest.fixture
def document() -> dict[str, Any]:
    return openapi_document()


def test_every_reply_matches_its_documented_schema(api: ApiCall, tenants: Tenants, document: dict[str, Any]) -> None:
    workspace = tenants.workspace(0)
    own = tenants.callers[workspace.workspace_id]
    foreign = tenants.callers[tenants.workspace(1).workspace_id]
    job = store_job(workspace)
    done = store_job(workspace, status=__import__("shared.jobs.models", fromlist=["JobStatus"]).JobStatus.COMPLETED)
    status_path, job_path, list_path = "/api/v1/jobs/{job_id}/status", "/api/v1/jobs/{job_id}", "/api/v1/jobs"

    cases = [
        (status_path, "patch", api("PATCH", f"/api/v1/jobs/{job.job_id}/status", own, {"status": "queued"})),
        (status_path, "patch", api("PATCH", f"/api/v1/jobs/{job.job_id}/status", own, {"status": "nope"})),
        (status_path, "patch", api("PATCH", f"/api/v1/jobs/{done.job_id}/status", own, {"status": "queued"})),
        (status_path, "patch", api("PATCH", f"/api/v1/jobs/{job.job_id}/status", foreign, {"status": "queued"})),
        (status_path, "patch", api("PATCH", "/api/v1/jobs/42/status", own, {"status": "queued"})),
        (status_path, "patch", api("PATCH", f"/api/v1/jobs/{job.job_id}/status", own, {"state": "queued"})),
        (
            status_path,
            "patch",
            api(
                "PATCH",
                f"/api/v1/jobs/{job.job_id}/status",
                own,
                {"status": "queued"},
                headers={"Content-Type": "text/plain"},
            ),
        ),
        (job_path, "get", api("GET", f"/api/v1/jobs/{job.job_id}", own)),
        (job_path, "get", api("GET", f"/api/v1/jobs/{job.job_id}", foreign)),
        (job_path, "get", api("GET", "/api/v1/jobs/42", own)),
        (list_path, "get", api("GET", "/api/v1/jobs", own, query={"status": "queued", "limit": "1"})),
        (list_path, "get", api("GET", "/api/v1/jobs", own, query={"limit": "1000"})),
        (list_path, "get", api("GET", "/api/v1/jobs", own, query={"workspace_id": "ws_111"})),
    ]

    statuses = set()
    for path, method, reply in cases:
        _check(document, path, method, reply)
        statuses.add(reply.status)
    assert statuses == {200, 400, 403, 404, 415}
