"""The synthesized REST API: a method per documented operation, and a 405 mock for every other method."""

from __future__ import annotations

import json
from typing import Any

from infra.api import operations
from infra.openapi import load_openapi
from shared.problems import PROBLEM_CONTENT_TYPE, Problem
from tests.infra.conftest import Synthesized


def _paths(synthesized: Synthesized) -> dict[str, str]:
    """Resource logical id -> its full path."""
    resources = synthesized.resources("AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = path_of(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in resources}


def _methods(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    paths = _paths(synthesized)
    return {
        (paths[method["Properties"]["ResourceId"]["Ref"]], method["Properties"]["HttpMethod"]): method["Properties"]
        for method in synthesized.resources("AWS::ApiGateway::Method").values()
    }


def test_every_documented_path_answers_other_methods_with_a_405_and_allow(synthesized: Synthesized) -> None:
    methods = _methods(synthesized)
    documented: dict[str, list[str]] = {}
    for path, method, _ in operations(load_openapi()):
        documented.setdefault(path, []).append(method)

    for path, allowed in documented.items():
        mock = methods[(path, "ANY")]
        integration = mock["Integration"]
        (response,) = integration["IntegrationResponses"]
        body = Problem.model_validate_json(response["ResponseTemplates"]["application/json"])

        assert (mock["AuthorizationType"], integration["Type"]) == ("NONE", "MOCK")
        assert "SelectionPattern" not in response  # the default response: every request gets it
        assert response["StatusCode"] == "405"
        assert response["ResponseParameters"] == {
            "method.response.header.Allow": f"'{', '.join(sorted(allowed))}'",
            "method.response.header.Content-Type": f"'{PROBLEM_CONTENT_TYPE}'",
        }
        assert (body.status, body.code) == (405, "method_not_allowed")
        assert json.loads(integration["RequestTemplates"]["application/json"]) == {"statusCode": 405}
        # The documented methods keep their own integration
        assert all(methods[(path, method)]["Integration"]["Type"] == "AWS_PROXY" for method in allowed)


def test_no_gateway_response_copies_the_request_path(synthesized: Synthesized) -> None:
    for response in synthesized.resources("AWS::ApiGateway::GatewayResponse").values():
        for template in response["Properties"]["ResponseTemplates"].values():
            assert "$context.path" not in template
