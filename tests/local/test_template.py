"""The local runtime reads its wiring from the synthesized CDK app: routes, authorizer, environment, errors."""

from __future__ import annotations

import json

import pytest

from infra.local.template import AppTemplate, Resolver
from shared import schema

pytestmark = pytest.mark.slow

API_HANDLER = "functions.api.handler.lambda_handler"
AUTHORIZER_HANDLER = "functions.authorizer.handler.lambda_handler"


def test_routes_come_from_the_api_gateway_methods(app_template: AppTemplate) -> None:
    # Given the synthesized app
    api = app_template.function_for_handler(API_HANDLER)
    assert api is not None

    # When its routes are read
    routes = {(route.method, route.path): route for route in app_template.routes}

    # Then the spec's endpoints are there, proxied to the API function behind the Lambda authorizer
    for method, path in (
        ("PATCH", "/api/v1/jobs/{job_id}/status"),
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/{job_id}"),
    ):
        route = routes[(method, path)]
        assert route.integration == "AWS_PROXY"
        assert route.function_id == api.logical_id
        assert route.authorizer_id in app_template.authorizers


def test_authorizer_reads_the_authorization_header(app_template: AppTemplate) -> None:
    (authorizer,) = app_template.authorizers.values()
    function = app_template.functions[authorizer.function_id]

    assert authorizer.type == "REQUEST"
    assert function.handler == AUTHORIZER_HANDLER
    assert [(source.location, source.name) for source in authorizer.identity_sources] == [("header", "Authorization")]
    assert authorizer.ttl_seconds > 0


def test_function_environment_resolves_to_local_resources(app_template: AppTemplate) -> None:
    # Given local names for the table and the cursor secret
    table = app_template.table
    (secret,) = app_template.secrets
    resolver = Resolver(app_template, {table.logical_id: "local-table", secret.logical_id: "arn:local:secret"})
    api = app_template.function_for_handler(API_HANDLER)
    assert api is not None

    # When the API function's environment is resolved
    environment = resolver.environment(api)

    # Then the CloudFormation references point at the local stand-ins
    assert environment["TABLE_NAME"] == "local-table"
    assert environment["CURSOR_SECRET_ARN"] == "arn:local:secret"


def test_table_definition_has_the_schema_indexes_and_stream(app_template: AppTemplate) -> None:
    args = app_template.table.create_table_args("t")

    indexes = {index["IndexName"]: index["KeySchema"] for index in args["GlobalSecondaryIndexes"]}
    for definition in schema.GLOBAL_INDEXES:
        assert indexes[definition.name] == [
            *({"AttributeName": name, "KeyType": "HASH"} for name in definition.partition_keys),
            *({"AttributeName": name, "KeyType": "RANGE"} for name in definition.sort_keys),
        ]
    assert args["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": schema.STREAM_VIEW}
    assert args["BillingMode"] == "PAY_PER_REQUEST"


def test_gateway_responses_are_problem_details(app_template: AppTemplate) -> None:
    unauthorized = app_template.gateway_responses["UNAUTHORIZED"]

    assert unauthorized.status_code == 401
    assert '"code": "unauthorized"' in unauthorized.templates["application/json"]
    assert "$context.path" not in unauthorized.templates["application/json"]  # a client's path could forge it
    assert unauthorized.headers["Content-Type"] == "'application/problem+json'"
    assert {"ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(
        app_template.gateway_responses
    )


def test_pipeline_wiring_comes_from_the_template(app_template: AppTemplate) -> None:
    # The worker's stream mapping, the reconciler's schedule and the state machine, as synthesized
    (mapping,) = app_template.event_source_mappings
    assert app_template.functions[mapping.function_id].handler == "functions.worker.handler.lambda_handler"
    assert mapping.table_id == app_template.table.logical_id
    assert (mapping.batch_size, mapping.report_batch_item_failures, mapping.bisect_on_error) == (25, True, True)
    assert len(mapping.filter_patterns) == 2
    assert mapping.on_failure_queue_id is not None
    schedules = {app_template.functions[entry.function_id].handler: entry for entry in app_template.schedules}
    assert schedules["functions.reconciler.handler.lambda_handler"].expression == "rate(5 minutes)"
    (machine,) = app_template.state_machines
    refs = {function_id: f"fn-{function_id}" for function_id in app_template.functions}
    definition = json.loads(machine.resolve(Resolver(app_template, refs)))
    assert definition["StartAt"] == "StartTranscription"
    resources = {state.get("Resource", "") for state in definition["States"].values()}
    assert any(resource.endswith(":function:fn-" + function_id) for resource in resources for function_id in refs)
    assert len(machine.function_ids(app_template.resources)) == 5
    assert app_template.event_buses[0].name == "gensail-dev-jobs"
    assert len(app_template.buckets) == 2
