"""The public REST API: routes from the stored OpenAPI document, the API-key authorizer, problem-shaped errors.

Every path and method of ``docs/openapi.json`` becomes a method proxied to the API function; an operation
whose effective ``security`` is empty is public, every other one goes through the REQUEST authorizer. Every
path also has an ``ANY`` method, a mock that answers the methods the path has no route for with 405 and
``Allow``. Errors API Gateway answers itself (401, 403, 404, 413, 429, 5xx) carry the same problem body as
the function's, without the request path: API Gateway would copy it into the JSON unescaped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.functions import log_group_of_stage
from infra.nag import acknowledge
from infra.stage import Stage
from shared.auth.keys import AUTHORIZER_CACHE_SECONDS
from shared.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, PROBLEMS

# Routes carry their own version (/api/v1/...); the API stage is named after the deployment stage
# (infra.stage), and a custom domain maps its root to it.
THROTTLING_RATE_LIMIT = 50  # steady requests per second, for every method of the stage
THROTTLING_BURST_LIMIT = 100
AUTHORIZER_CACHE_TTL = cdk.Duration.seconds(AUTHORIZER_CACHE_SECONDS)
AUTHORIZATION_HEADER = "Authorization"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})

# Quoted by API Gateway itself, so any message stays valid JSON.
_GATEWAY_MESSAGE = "$context.error.messageString"
_MESSAGE_MARK = "__gateway_message__"


@dataclass(frozen=True)
class GatewayProblem:
    """The problem API Gateway answers for one response type; its HTTP status is the catalogue's."""

    code: str
    detail: str | None  # None: API Gateway's own message

    @property
    def status(self) -> int:
        return PROBLEMS[self.code][0]

    def template(self) -> str:
        """The body mapping template: a ``shared.problems.Problem``.

        It has no ``instance``: ``$context.path`` is the client's path, copied as is, so a quote in it could
        forge fields (``/nope","status":200``) and a backslash would break the JSON.
        """
        status, title = PROBLEMS[self.code]
        body = {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": title,
            "status": status,
            "detail": self.detail or _MESSAGE_MARK,
            "code": self.code,
        }
        return json.dumps(body).replace(f'"{_MESSAGE_MARK}"', _GATEWAY_MESSAGE)


def method_not_allowed_body(allowed: list[str]) -> str:
    """The 405 problem the ``ANY`` mock of a path answers (the same the API function answers)."""
    status, title = PROBLEMS["method_not_allowed"]
    detail = f"This path answers {', '.join(allowed)} only."
    return json.dumps(
        {
            "type": PROBLEM_TYPE_BASE + "method_not_allowed",
            "title": title,
            "status": status,
            "detail": detail,
            "code": "method_not_allowed",
        }
    )


_UNAUTHORIZED = GatewayProblem("unauthorized", "Missing, unknown or revoked API key.")
_NOT_FOUND = GatewayProblem("route_not_found", "No such route.")
_RATE_LIMITED = GatewayProblem("rate_limited", "Too many requests; retry after a short wait.")
_UNAVAILABLE = GatewayProblem("service_unavailable", "The service did not answer in time; retry later.")
_INVALID = GatewayProblem("validation_error", None)

GATEWAY_PROBLEMS: dict[apigw.ResponseType, GatewayProblem] = {
    # The authorizer raises the same "Unauthorized" for missing, unknown and revoked keys; a request without
    # the header never reaches it and gets this response too.
    apigw.ResponseType.UNAUTHORIZED: _UNAUTHORIZED,
    apigw.ResponseType.ACCESS_DENIED: GatewayProblem("forbidden", "This API key may not call this route."),
    # API Gateway's answer (403 by default) to a path or method that has no route.
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: _NOT_FOUND,
    apigw.ResponseType.RESOURCE_NOT_FOUND: _NOT_FOUND,
    apigw.ResponseType.THROTTLED: _RATE_LIMITED,
    apigw.ResponseType.QUOTA_EXCEEDED: _RATE_LIMITED,
    apigw.ResponseType.REQUEST_TOO_LARGE: GatewayProblem(
        "payload_too_large", "The request is larger than API Gateway accepts."
    ),
    apigw.ResponseType.BAD_REQUEST_BODY: _INVALID,
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: _INVALID,
    apigw.ResponseType.INTEGRATION_FAILURE: _UNAVAILABLE,
    apigw.ResponseType.INTEGRATION_TIMEOUT: _UNAVAILABLE,
    # What is left cannot happen with this API's settings (no API keys, IAM auth, WAF or non-proxy
    # integrations); should it, status and body still agree.
    apigw.ResponseType.DEFAULT_4_XX: _INVALID,
    apigw.ResponseType.DEFAULT_5_XX: GatewayProblem("internal_error", "The request could not be completed."),
}

# One JSON object per request. Only fields API Gateway cannot fill with a double quote; never the API key.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTimeEpoch",
    "sourceIp": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerLatency": "$context.authorizer.latency",
    "keyId": "$context.authorizer.principalId",
    "errorType": "$context.error.responseType",
}


def effective_security(document: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, list[str]]]:
    """An operation's security requirements: its own if it states them (``[]``: public), else the document's."""
    security: list[dict[str, list[str]]] = operation.get("security", document.get("security", []))
    return security


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(path, HTTP method, operation)`` for every operation of an OpenAPI document."""
    return [
        (path, method.upper(), operation)
        for path, path_item in document["paths"].items()
        for method, operation in path_item.items()
        if method in HTTP_METHODS
    ]


class JobsApi(Construct):
    """The REST API, its stage (throttled, access-logged) and its API-key authorizer."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        authorizer_handler: lambda_.IFunction,
        openapi: dict[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)
        stage = Stage.of(self)
        self.access_logs = log_group_of_stage(self, "AccessLogs")
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{openapi['info']['title']} ({stage.name})",
            description=openapi["info"].get("description"),
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The account-wide CloudWatch role access logging needs is a singleton: infra.account's stack owns it.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=stage.api_stage_name,
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
                metrics_enabled=True,
                data_trace_enabled=False,
                tracing_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "ApiKeyAuthorizer",
            handler=authorizer_handler,
            identity_sources=[apigw.IdentitySource.header(AUTHORIZATION_HEADER)],
            results_cache_ttl=AUTHORIZER_CACHE_TTL,
        )
        # Methods any caller may call (operations whose security is empty), and those behind the authorizer.
        self.public_methods: list[apigw.Method] = []
        self.authorized_methods: list[apigw.Method] = []
        # The ANY mocks answering 405 (public: a wrong method is refused before any key is checked).
        self.method_not_allowed_methods: list[apigw.Method] = []
        self._add_routes(openapi, apigw.LambdaIntegration(handler, allow_test_invoke=False))
        for response_type, gateway_problem in GATEWAY_PROBLEMS.items():
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Problem",
                type=response_type,
                status_code=str(gateway_problem.status),
                response_headers={"Content-Type": f"'{PROBLEM_CONTENT_TYPE}'"},
                templates={"application/json": gateway_problem.template()},
            )
        self._acknowledge_findings()

    def _acknowledge_findings(self) -> None:
        acknowledge(
            self.rest_api,
            "APIG2",
            "Requests are validated in the API function (Powertools enable_validation, the same models that "
            "generate docs/openapi.json), which answers with the 400 problem+json bodies the API contract "
            "requires; an API Gateway request validator would answer first with a different error shape.",
        )
        acknowledge(
            self.rest_api.deployment_stage,
            "APIG6",
            "Execution logging is left off: API Gateway writes it to a log group of its own naming that no stack "
            "owns (no retention, left behind when a stage is deleted). Every request is in this stage's JSON "
            "access log, without the key, and the functions log each request through Powertools.",
        )
        for method in self.authorized_methods:
            acknowledge(
                method,
                "COG4",
                "Callers are systems holding Gensail API keys (Authorization: Bearer gsk_...) scoped to a partner, "
                "organization or workspace; the REQUEST authorizer resolves them. There are no Cognito users.",
            )
        for method in self.method_not_allowed_methods:
            acknowledge(
                method, "COG4", "A mock answering 405 to methods the path has no route for: nothing to authorize."
            )
            acknowledge(
                method,
                "APIG4",
                "A mock integration that only answers 405 with Allow for a wrong method; it reaches no function or "
                "data.",
            )
        for method in self.public_methods:
            acknowledge(method, "COG4", "A public route (security: [] in the API code): no authorizer applies.")
            acknowledge(
                method,
                "APIG4",
                "Public by design (security: [] in the API code): it serves the OpenAPI document so clients can "
                "discover the API before they hold a key; it reads no data.",
            )

    def _add_routes(self, openapi: dict[str, Any], integration: apigw.Integration) -> None:
        methods_of: dict[str, list[str]] = defaultdict(list)
        for path, http_method, operation in operations(openapi):
            methods_of[path].append(http_method)
            public = effective_security(openapi, operation) == []
            method = self.rest_api.root.resource_for_path(path).add_method(
                http_method,
                integration,
                operation_name=operation.get("operationId"),
                authorization_type=apigw.AuthorizationType.NONE if public else apigw.AuthorizationType.CUSTOM,
                authorizer=None if public else self.authorizer,
            )
            (self.public_methods if public else self.authorized_methods).append(method)
        for path, allowed in methods_of.items():
            self.method_not_allowed_methods.append(self._add_method_not_allowed(path, sorted(allowed)))

    def _add_method_not_allowed(self, path: str, allowed: list[str]) -> apigw.Method:
        """``ANY`` on ``path``: API Gateway picks it only for a method the path has no route for (without it,
        API Gateway answers such a request like an unknown path)."""
        headers = {"Allow": f"'{', '.join(allowed)}'", "Content-Type": f"'{PROBLEM_CONTENT_TYPE}'"}
        integration = apigw.MockIntegration(
            # Whatever the request's media type, the mock answers; its one integration response is the default.
            request_templates={"application/json": '{"statusCode": 405}'},
            passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_MATCH,
            integration_responses=[
                apigw.IntegrationResponse(
                    status_code="405",
                    response_templates={"application/json": method_not_allowed_body(allowed)},
                    response_parameters={f"method.response.header.{name}": value for name, value in headers.items()},
                )
            ],
        )
        return self.rest_api.root.resource_for_path(path).add_method(
            "ANY",
            integration,
            authorization_type=apigw.AuthorizationType.NONE,
            method_responses=[
                apigw.MethodResponse(
                    status_code="405", response_parameters={f"method.response.header.{name}": True for name in headers}
                )
            ],
        )
