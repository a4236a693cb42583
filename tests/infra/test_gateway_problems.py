"""The bodies API Gateway sends for errors it raises itself, rendered the way API Gateway renders them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import aws_apigateway as apigw

from infra.api import GATEWAY_PROBLEMS, GatewayProblem, effective_security
from shared.problems import PROBLEM_TYPE_BASE, PROBLEMS, Problem

ResponseType = apigw.ResponseType


def render(template: str, path: str = "/prod/api/v1/jobs", message: str = 'Say "hi"') -> Problem:
    """Substitute the $context variables API Gateway fills in; the result must be a Problem."""
    body = template.replace("$context.path", path).replace("$context.error.messageString", json.dumps(message))
    return Problem.model_validate_json(body)


def _problem(response_type: ResponseType) -> GatewayProblem:
    (problem,) = [p for t, p in GATEWAY_PROBLEMS.items() if t.response_type == response_type.response_type]
    return problem


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [
        (ResponseType.UNAUTHORIZED, 401, "unauthorized"),
        (ResponseType.ACCESS_DENIED, 403, "forbidden"),
        (ResponseType.MISSING_AUTHENTICATION_TOKEN, 404, "route_not_found"),
        (ResponseType.THROTTLED, 429, "rate_limited"),
        (ResponseType.REQUEST_TOO_LARGE, 413, "payload_too_large"),
        (ResponseType.INTEGRATION_TIMEOUT, 503, "service_unavailable"),
        (ResponseType.DEFAULT_4_XX, 400, "validation_error"),
        (ResponseType.DEFAULT_5_XX, 500, "internal_error"),
    ],
)
def test_gateway_error_answers_with_the_catalogue_problem(response_type: ResponseType, status: int, code: str) -> None:
    problem = _problem(response_type)

    body = render(problem.template(), path="/prod/api/v1/jobs/12345")

    assert (problem.status, body.status, body.code) == (status, status, code)
    assert body.type == PROBLEM_TYPE_BASE + code
    assert body.title == PROBLEMS[code][1]
    assert body.instance is None  # never the client's path: see the forgery test below
    assert body.detail


@pytest.mark.parametrize(
    "path",
    ['/prod/api/v1/nope","status":200,"code":"ok', "/prod/api/v1/back\\slash", '/prod/"}'],
)
def test_a_path_cannot_forge_or_break_a_gateway_problem(path: str) -> None:
    # API Gateway copies $context.path into the body as is: a template that used it could be forged.
    for problem in GATEWAY_PROBLEMS.values():
        assert "$context.path" not in problem.template()
        body = render(problem.template(), path=path)

        assert (body.status, body.code) == (problem.status, problem.code)


def test_every_gateway_problem_renders_to_valid_json_whatever_the_message() -> None:
    for problem in GATEWAY_PROBLEMS.values():
        body = render(problem.template(), message='quote " and backslash \\')

        assert body.status == problem.status
        assert body.code == problem.code


def test_default_4xx_passes_api_gateways_message_through() -> None:
    body = render(_problem(ResponseType.DEFAULT_4_XX).template(), message="Unsupported Media Type")

    assert body.detail == "Unsupported Media Type"


def test_missing_unknown_and_revoked_keys_share_one_401_body() -> None:
    # The authorizer raises the same "Unauthorized" for all three; a missing header never reaches it.
    body = render(_problem(ResponseType.UNAUTHORIZED).template())

    assert body.detail == "Missing, unknown or revoked API key."


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ({"security": []}, []),
        ({}, [{"apiKey": []}]),
        ({"security": [{"other": []}]}, [{"other": []}]),
    ],
)
def test_operation_security_overrides_the_documents(operation: dict[str, Any], expected: list[Any]) -> None:
    assert effective_security({"security": [{"apiKey": []}]}, operation) == expected
