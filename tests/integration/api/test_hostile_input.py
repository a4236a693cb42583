"""Requests a hostile client sends the API function: each gets a 4xx problem with a stable code, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.aws import client as aws_client
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall, ApiReply
from tests.support.aws import TABLE_NAME
from tests.support.events import FakeContext, api_event
from tests.support.factories import store_job


def send(event: dict[str, Any]) -> ApiReply:
    from functions.api import handler

    response = handler.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    headers = {key: values[-1] for key, values in (response.get("multiValueHeaders") or {}).items()}
    return ApiReply(response["statusCode"], json.loads(response["body"]), headers | (response.get("headers") or {}))


def requeue_event(tenants: Tenants, body: str | bytes, content_type: str = "application/json") -> dict[str, Any]:
    """A requeue of a skipped job of workspace 0 whose raw body is ``body`` (bytes travel base64-encoded)."""
    workspace = tenants.workspace(0)
    job = store_job(workspace)
    event = api_event("PATCH", f"/api/v1/jobs/{job.job_id}/status", tenants.callers[workspace.workspace_id])
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"] = body
    return event


def assert_job_untouched(event: dict[str, Any]) -> None:
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(event["pathParameters"]["job_id"])
    assert stored is not None
    assert stored.status is JobStatus.SKIPPED


@pytest.mark.parametrize(
    "body",
    [
        "[" * 1000 + "]" * 1000,
        '{"status": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"status": ' + "9" * 5000 + "}",
        '{"status": "queued"}'.encode("utf-16"),
        '{"status": "queued"}'.encode("utf-16-le"),
        b'{"status": "qu\xe9ued"}',
        "not base64 at all!",
    ],
    ids=["nested 1000 deep", "nested value", "5000-digit integer", "utf-16", "utf-16 without bom", "latin-1", "b64"],
)
def test_a_body_json_cannot_read_is_a_400_validation_problem(aws: None, tenants: Tenants, body: str | bytes) -> None:
    event = requeue_event(tenants, body)
    if body == "not base64 at all!":
        event["isBase64Encoded"] = True

    reply = send(event)

    assert (reply.status, reply.body["code"]) == (400, "validation_error")
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert_job_untouched(event)


@pytest.mark.filterwarnings("ignore:Received multipart/form-data without base64")
@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "application/x-www-form-urlencoded", "text/plain", "application/jsonx", ""],
)
def test_a_body_that_is_not_declared_json_is_a_415_problem(aws: None, tenants: Tenants, content_type: str) -> None:
    event = requeue_event(tenants, "status=queued", content_type)

    reply = send(event)

    assert (reply.status, reply.body["code"]) == (415, "unsupported_media_type")
    assert_job_untouched(event)


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/Json; Charset=UTF-8", " application/json "])
def test_json_media_types_are_case_insensitive(aws: None, tenants: Tenants, content_type: str) -> None:
    reply = send(requeue_event(tenants, '{"status": "queued"}', content_type))

    assert (reply.status, reply.body["new_status"]) == (200, "queued")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/v1/jobs/123/status", "PATCH"),
        ("DELETE", "/api/v1/jobs/123", "GET"),
        ("POST", "/api/v1/jobs", "GET"),
        ("PUT", "/api/v1/openapi.json", "GET"),
    ],
)
def test_a_wrong_method_on_a_route_is_a_405_with_allow(
    api: ApiCall, tenants: Tenants, method: str, path: str, allow: str
) -> None:
    reply = api(method, path, tenants.callers[tenants.workspace(0).workspace_id])

    assert (reply.status, reply.body["code"]) == (405, "method_not_allowed")
    assert reply.headers["Allow"] == allow


def test_an_unknown_path_is_still_a_404(api: ApiCall, tenants: Tenants) -> None:
    reply = api("GET", "/api/v1/nope", tenants.callers[tenants.workspace(0).workspace_id])

    assert (reply.status, reply.body["code"]) == (404, "route_not_found")
    assert "Allow" not in reply.headers


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "/\n"])
def test_a_job_id_with_a_trailing_newline_matches_no_job(api: ApiCall, tenants: Tenants, suffix: str) -> None:
    workspace = tenants.workspace(0)
    job = store_job(workspace)
    caller = tenants.callers[workspace.workspace_id]

    reply = api("GET", f"/api/v1/jobs/{job.job_id}{suffix}", caller)
    requeue = api("PATCH", f"/api/v1/jobs/{job.job_id}{suffix}/status", caller, {"status": "queued"})

    assert (reply.status, reply.body["code"]) == (404, "route_not_found")
    assert (requeue.status, requeue.body["code"]) == (404, "route_not_found")
    assert api("GET", f"/api/v1/jobs/{job.job_id}/", caller).status == 200  # a trailing slash still routes


@pytest.mark.parametrize("limit", ["1.0", "0050", "+5", " 5", "5 ", "5\n", "1e1", "0x10", "\u0665"])
def test_limit_accepts_only_decimal_digits(api: ApiCall, tenants: Tenants, limit: str) -> None:
    reply = api("GET", "/api/v1/jobs", tenants.callers[tenants.workspace(0).workspace_id], query={"limit": limit})

    assert (reply.status, reply.body["code"]) == (400, "validation_error")
    assert reply.body["errors"][0]["location"] == "query.limit"


def test_a_decimal_limit_is_read(api: ApiCall, tenants: Tenants) -> None:
    reply = api("GET", "/api/v1/jobs", tenants.callers[tenants.workspace(0).workspace_id], query={"limit": "5"})

    assert reply.status == 200


def test_the_openapi_document_says_what_the_api_answers() -> None:
    from functions.api.handler import openapi_document

    document = openapi_document()
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            statuses = set(operation["responses"])
            # Answered by API Gateway or the function for any route
            assert {"405", "413", "414", "429", "500", "503"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "415"} <= statuses, (method, path)
    status = document["components"]["schemas"]["StatusChange"]["properties"]["status"]
    assert status["enum"] == ["queued"]
    assert "invalid_status" in status["description"]
    (limit,) = [p for p in document["paths"]["/api/v1/jobs"]["get"]["parameters"] if p["name"] == "limit"]
    assert (limit["schema"]["type"], limit["schema"]["minimum"], limit["schema"]["maximum"]) == ("integer", 1, 100)


def test_a_status_other_than_queued_is_still_the_spec_s_invalid_status(api: ApiCall, tenants: Tenants) -> None:
    workspace = tenants.workspace(0)
    job = store_job(workspace)

    reply = api("PATCH", f"/api/v1/jobs/{job.job_id}/status", tenants.callers[workspace.workspace_id], {"status": "x"})

    assert (reply.status, reply.body["code"]) == (400, "invalid_status")
