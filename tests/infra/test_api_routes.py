"""The synthesized stage stack's REST API: routes from the OpenAPI document, authorizer, gateway errors, stage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.api import (
    GATEWAY_PROBLEMS,
    THROTTLING_BURST_LIMIT,
    THROTTLING_RATE_LIMIT,
    effective_security,
    operations,
)
from infra.openapi import load_openapi
from shared.auth.keys import AUTHORIZER_CACHE_SECONDS
from tests.infra.conftest import Synthesized
from tests.infra.helpers import API_HANDLER, AUTHORIZER_HANDLER

pytestmark = pytest.mark.slow

# --- the API ---------------------------------------------------------------------------------------------------


def _method_id(synthesized: Synthesized, path: str, http_method: str) -> str:
    """The logical id of the method at ``path`` (e.g. /api/v1/jobs/{job_id}), found through its resources."""
    resources = synthesized.resources("AWS::ApiGateway::Resource")
    (rest_api_id,) = synthesized.resources("AWS::ApiGateway::RestApi")
    parent: Any = {"Fn::GetAtt": [rest_api_id, "RootResourceId"]}
    for part in path.strip("/").split("/"):
        (parent_id,) = [
            logical_id
            for logical_id, resource in resources.items()
            if resource["Properties"]["PathPart"] == part and resource["Properties"]["ParentId"] == parent
        ]
        parent = {"Ref": parent_id}
    (method_id,) = [
        logical_id
        for logical_id, method in synthesized.resources("AWS::ApiGateway::Method").items()
        if method["Properties"]["ResourceId"] == parent and method["Properties"]["HttpMethod"] == http_method
    ]
    return method_id


def test_every_documented_operation_is_a_route_with_its_authorization(synthesized: Synthesized) -> None:
    document = load_openapi()
    (authorizer_id,) = synthesized.resources("AWS::ApiGateway::Authorizer")
    api_function = synthesized.function_id(API_HANDLER)

    for path, http_method, operation in operations(document):
        method = synthesized.template_json["Resources"][_method_id(synthesized, path, http_method)]["Properties"]
        integration = method["Integration"]

        assert integration["Type"] == "AWS_PROXY"
        assert {"Fn::GetAtt": [api_function, "Arn"]} in integration["Uri"]["Fn::Join"][1]
        assert method["OperationName"] == operation["operationId"]
        if effective_security(document, operation) == []:
            assert method["AuthorizationType"] == "NONE"
            assert "AuthorizerId" not in method
        else:
            assert method["AuthorizationType"] == "CUSTOM"
            assert method["AuthorizerId"] == {"Ref": authorizer_id}


def test_only_documented_operations_are_routes(synthesized: Synthesized) -> None:
    documented = len(operations(load_openapi()))
    methods = synthesized.resources("AWS::ApiGateway::Method").values()

    # Besides them, only the ANY mocks answering 405 (tests/infra/test_api_methods.py)
    assert len([method for method in methods if method["Properties"]["HttpMethod"] != "ANY"]) == documented


def test_openapi_document_route_is_public(synthesized: Synthesized) -> None:
    method_id = _method_id(synthesized, "/api/v1/openapi.json", "GET")

    assert synthesized.template_json["Resources"][method_id]["Properties"]["AuthorizationType"] == "NONE"


def test_authorizer_reads_the_bearer_header_and_caches_decisions(template: Template, synthesized: Synthesized) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {
            "Type": "REQUEST",
            "IdentitySource": "method.request.header.Authorization",
            # The window the admin command warns about when it revokes a key.
            "AuthorizerResultTtlInSeconds": AUTHORIZER_CACHE_SECONDS,
            "AuthorizerUri": {
                "Fn::Join": [
                    "",
                    Match.array_with([{"Fn::GetAtt": [synthesized.function_id(AUTHORIZER_HANDLER), "Arn"]}]),
                ]
            },
        },
    )


def test_gateway_errors_are_problem_details(synthesized: Synthesized) -> None:
    responses = {
        response["Properties"]["ResponseType"]: response["Properties"]
        for response in synthesized.resources("AWS::ApiGateway::GatewayResponse").values()
    }

    assert set(responses) == {response_type.response_type for response_type in GATEWAY_PROBLEMS}
    for response_type, problem in GATEWAY_PROBLEMS.items():
        response = responses[response_type.response_type]
        assert response["StatusCode"] == str(problem.status)
        assert response["ResponseParameters"] == {"gatewayresponse.header.Content-Type": "'application/problem+json'"}
        assert response["ResponseTemplates"] == {"application/json": problem.template()}


def test_stage_throttles_logs_and_measures_every_method(template: Template, synthesized: Synthesized) -> None:
    function_logs = {
        function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for function in synthesized.resources("AWS::Lambda::Function", own=True).values()
    }
    state_machine_logs = {
        destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        for machine in synthesized.resources("AWS::StepFunctions::StateMachine").values()
        for destination in machine["Properties"]["LoggingConfiguration"]["Destinations"]
    }
    (access_log_id,) = set(synthesized.resources("AWS::Logs::LogGroup")) - function_logs - state_machine_logs
    (stage,) = synthesized.resources("AWS::ApiGateway::Stage").values()
    access_log = stage["Properties"]["AccessLogSetting"]

    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "dev",
            "MethodSettings": [
                {
                    "HttpMethod": "*",
                    "ResourcePath": "/*",
                    "ThrottlingRateLimit": THROTTLING_RATE_LIMIT,
                    "ThrottlingBurstLimit": THROTTLING_BURST_LIMIT,
                    "MetricsEnabled": True,
                    "DataTraceEnabled": False,
                }
            ],
        },
    )
    assert {"Ref": access_log_id} in access_log["DestinationArn"]["Fn::Join"][1]
    assert "$context.requestId" in json.loads(access_log["Format"]).values()
