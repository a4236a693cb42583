"""API Gateway behaviour the local gateway reproduces: route choice, policy checks and response templates."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.gateway import render_template
from infra.local.routing import match_route, policy_allows
from infra.local.template import AppTemplate, Resolver, Route, TemplateError

ARN = "arn:aws:execute-api:us-east-1:123456789012:localapi/prod/GET/api/v1/jobs/12"


def _route(method: str, path: str) -> Route:
    return Route(method=method, path=path, integration="AWS_PROXY", function_id="Fn", authorizer_id=None)


@pytest.mark.parametrize(
    ("method", "path", "expected", "parameters"),
    [
        ("GET", "/api/v1/jobs/12", "/api/v1/jobs/{job_id}", {"job_id": "12"}),
        ("GET", "/api/v1/jobs/openapi", "/api/v1/jobs/openapi", {}),
        ("PATCH", "/api/v1/jobs/12/status", "/api/v1/jobs/{job_id}/status", {"job_id": "12"}),
        ("DELETE", "/api/v1/jobs/12", "/{proxy+}", {"proxy": "api/v1/jobs/12"}),
        ("GET", "/api/v1/other/a/b", "/{proxy+}", {"proxy": "api/v1/other/a/b"}),
    ],
)
def test_most_specific_route_wins(method: str, path: str, expected: str, parameters: dict[str, str]) -> None:
    routes = [
        _route("GET", "/api/v1/jobs/{job_id}"),
        _route("GET", "/api/v1/jobs/openapi"),
        _route("PATCH", "/api/v1/jobs/{job_id}/status"),
        _route("ANY", "/{proxy+}"),
    ]

    found = match_route(routes, method, path)

    assert found is not None
    assert (found.route.path, found.path_parameters) == (expected, parameters)


def test_unknown_route_and_wrong_method_do_not_match() -> None:
    routes = [_route("GET", "/api/v1/jobs/{job_id}")]

    assert match_route(routes, "GET", "/api/v1/jobs/12/extra") is None
    assert match_route(routes, "POST", "/api/v1/jobs/12") is None
    assert match_route(routes, "GET", "/api/v1/jobs") is None


@pytest.mark.parametrize(
    ("statements", "allowed"),
    [
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "execute-api:Invoke",
                    "Resource": "arn:aws:execute-api:*:*:localapi/prod/*/*",
                }
            ],
            True,
        ),
        (
            [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ["arn:aws:execute-api:*:*:other/prod/*"]}],
            False,
        ),
        (
            [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "*", "Resource": ARN}],
            False,
        ),
        ([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}], False),
        ([], False),
    ],
)
def test_authorizer_policy_is_evaluated_like_iam(statements: list[dict[str, Any]], allowed: bool) -> None:
    assert policy_allows({"Version": "2012-10-17", "Statement": statements}, ARN) is allowed


def test_gateway_response_template_renders_context_variables() -> None:
    template = '{"detail": $context.error.messageString, "instance": "$context.path", "id": "${context.requestId}"}'

    rendered = render_template(
        template, {"error.messageString": '"Unauthorized"', "path": "/api/v1/jobs", "requestId": "r-1"}
    )

    assert rendered == '{"detail": "Unauthorized", "instance": "/api/v1/jobs", "id": "r-1"}'


def _template(method: dict[str, Any]) -> dict[str, Any]:
    return {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "x"}},
            "Things": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {"ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]}, "PathPart": "things"},
            },
            "Proxy": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {"ParentId": {"Ref": "Things"}, "PathPart": "{proxy+}"},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "pkg.mod.handler",
                    "Environment": {
                        "Variables": {
                            "QUEUE": {"Fn::Sub": "${AWS::Region}/${Queue}/${Fn.Arn}"},
                            "PLAIN": "text",
                        }
                    },
                },
            },
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Method": {"Type": "AWS::ApiGateway::Method", "Properties": {"ResourceId": {"Ref": "Proxy"}, **method}},
        }
    }


def test_routes_follow_the_resource_tree_and_options_mocks() -> None:
    template = AppTemplate.parse(
        _template(
            {
                "HttpMethod": "OPTIONS",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "MOCK",
                    "IntegrationResponses": [
                        {
                            "StatusCode": "204",
                            "ResponseParameters": {"method.response.header.Access-Control-Allow-Origin": "'*'"},
                        }
                    ],
                },
            }
        )
    )

    (route,) = template.routes
    assert (route.method, route.path, route.integration, route.mock_status) == (
        "OPTIONS",
        "/things/{proxy+}",
        "MOCK",
        204,
    )
    assert route.mock_headers == {"Access-Control-Allow-Origin": "*"}


def test_unsupported_integration_is_refused_by_name() -> None:
    with pytest.raises(TemplateError, match="HTTP_PROXY"):
        AppTemplate.parse(_template({"HttpMethod": "GET", "Integration": {"Type": "HTTP_PROXY"}}))


def test_sub_and_unknown_resources_resolve_to_local_placeholders() -> None:
    template = AppTemplate.parse(
        _template({"HttpMethod": "GET", "Integration": {"Type": "AWS_PROXY", "Uri": {"Fn::GetAtt": ["Fn", "Arn"]}}})
    )

    environment = Resolver(template, {}).environment(template.functions["Fn"])

    assert environment == {
        "QUEUE": "us-east-1/Gensail-dev-Queue/arn:aws:lambda:us-east-1:123456789012:function:Gensail-dev-Fn",
        "PLAIN": "text",
    }
