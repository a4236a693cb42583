"""API Gateway behaviour the local gateway reproduces: routes from the OpenAPI document, the most specific
resource first, 405 for another method, and only the template features the stack uses."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.routing import Route, match_route, openapi_routes
from infra.local.template import AppTemplate, TemplateError
from infra.openapi import load_openapi


def test_routes_and_their_security_come_from_the_openapi_document() -> None:
    routes = {(route.method, route.path): route.public for route in openapi_routes(load_openapi())}

    assert routes[("GET", "/api/v1/openapi.json")] is True
    assert routes[("GET", "/api/v1/jobs")] is False
    assert routes[("PATCH", "/api/v1/jobs/{job_id}/status")] is False


@pytest.mark.parametrize(
    ("method", "path", "expected", "parameters"),
    [
        ("GET", "/api/v1/jobs/12", "/api/v1/jobs/{job_id}", {"job_id": "12"}),
        ("GET", "/api/v1/jobs/openapi", "/api/v1/jobs/openapi", {}),
        ("PATCH", "/api/v1/jobs/12/status", "/api/v1/jobs/{job_id}/status", {"job_id": "12"}),
    ],
)
def test_most_specific_route_wins(method: str, path: str, expected: str, parameters: dict[str, str]) -> None:
    routes = [
        Route("GET", "/api/v1/jobs/{job_id}", public=False),
        Route("GET", "/api/v1/jobs/openapi", public=True),
        Route("PATCH", "/api/v1/jobs/{job_id}/status", public=False),
    ]

    found = match_route(routes, method, path)

    assert found is not None
    assert found.route is not None
    assert (found.route.path, found.path_parameters) == (expected, parameters)


def test_unknown_path_does_not_match_and_another_method_names_the_allowed_ones() -> None:
    routes = [Route("GET", "/api/v1/jobs/{job_id}", public=False), Route("PUT", "/api/v1/jobs/{job_id}", public=False)]

    assert match_route(routes, "GET", "/api/v1/jobs/12/extra") is None
    assert match_route(routes, "GET", "/api/v1/jobs") is None
    wrong = match_route(routes, "POST", "/api/v1/jobs/12")
    assert wrong is not None
    assert (wrong.route, wrong.allowed) == (None, ("GET", "PUT"))


def _template(**extra: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "pkg.mod.handler"}},
            "Table": {
                "Type": "AWS::DynamoDB::GlobalTable",
                "Properties": {"KeySchema": [], "AttributeDefinitions": []},
            },
            "Authorizer": {
                "Type": "AWS::ApiGateway::Authorizer",
                "Properties": {
                    "Type": "REQUEST",
                    "IdentitySource": "method.request.header.Authorization",
                    "AuthorizerUri": {"Fn::GetAtt": ["Fn", "Arn"]},
                },
            },
            "Get": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {"Integration": {"Type": "AWS_PROXY", "Uri": {"Fn::GetAtt": ["Fn", "Arn"]}}},
            },
            **extra,
        }
    }


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        (
            {"Http": {"Type": "AWS::ApiGateway::Method", "Properties": {"Integration": {"Type": "HTTP_PROXY"}}}},
            "HTTP_PROXY",
        ),
        ({"Rule": {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": {}}}}, "only scheduled rules"),
        (
            {
                "Rule": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {"ScheduleExpression": "rate(1 hour)", "State": "DISABLED"},
                }
            },
            "only enabled rules",
        ),
        (
            {
                "Rule": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "ScheduleExpression": "rate(1 hour)",
                        "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Input": "{}"}],
                    },
                }
            },
            "own input",
        ),
        ({"Token": {"Type": "AWS::ApiGateway::Authorizer", "Properties": {"Type": "TOKEN"}}}, "only a REQUEST"),
        ({"Topic": {"Type": "AWS::SNS::Subscription", "Properties": {}}}, "does not serve AWS::SNS::Subscription"),
    ],
)
def test_template_features_the_stack_does_not_use_are_refused_by_name(extra: dict[str, object], refused: str) -> None:
    with pytest.raises(TemplateError, match=refused):
        AppTemplate.parse(_template(**extra))
