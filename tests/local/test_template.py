"""The local runtime reads its wiring from the synthesized CDK app: authorizer, mappings, schedules, errors."""

from __future__ import annotations

import pytest

from infra.local.template import AppTemplate

pytestmark = pytest.mark.slow

API_HANDLER = "functions.api.handler.lambda_handler"
AUTHORIZER_HANDLER = "functions.authorizer.handler.lambda_handler"


def test_api_function_and_authorizer_come_from_the_template(app_template: AppTemplate) -> None:
    authorizer = app_template.authorizer

    api_function, authorizer_function = (
        app_template.functions[i] for i in (app_template.api_function_id, authorizer.function_id)
    )
    assert f"{api_function.module}.{api_function.attribute}" == API_HANDLER
    assert f"{authorizer_function.module}.{authorizer_function.attribute}" == AUTHORIZER_HANDLER
    assert authorizer.header == "Authorization"


def test_gateway_responses_are_problem_details(app_template: AppTemplate) -> None:
    unauthorized = app_template.gateway_responses["UNAUTHORIZED"]

    assert unauthorized.status_code == 401
    assert '"code": "unauthorized"' in unauthorized.template
    assert "$context.path" not in unauthorized.template  # a client's path could forge it
    assert unauthorized.headers["Content-Type"] == "application/problem+json"
    assert {"ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(
        app_template.gateway_responses
    )


def test_every_event_source_mapping_rule_and_state_machine_of_the_template_is_read(app_template: AppTemplate) -> None:
    # Generic, so that a mapping, schedule or state machine added to the stack needs no local code. (What the
    # stack's values are is tests/infra's business.)
    resources = app_template.resources
    of_type = {
        kind: {i for i, r in resources.items() if r["Type"] == kind}
        for kind in ("AWS::Lambda::EventSourceMapping", "AWS::Events::Rule", "AWS::StepFunctions::StateMachine")
    }
    mappings = [*app_template.event_source_mappings, *app_template.sqs_event_source_mappings]

    assert {mapping.logical_id for mapping in mappings} == of_type["AWS::Lambda::EventSourceMapping"]
    for mapping in mappings:
        properties = resources[mapping.logical_id]["Properties"]
        assert mapping.batch_size == properties["BatchSize"]
        assert mapping.report_batch_item_failures == (
            "ReportBatchItemFailures" in properties.get("FunctionResponseTypes", [])
        )
        assert mapping.function_id in app_template.functions
    for stream in app_template.event_source_mappings:
        assert len(stream.filter_patterns) == len(
            resources[stream.logical_id]["Properties"].get("FilterCriteria", {}).get("Filters", [])
        )
    assert {schedule.logical_id for schedule in app_template.schedules} == of_type["AWS::Events::Rule"]
    assert {logical_id for logical_id, _ in app_template.of_type("AWS::StepFunctions::StateMachine")} == of_type[
        "AWS::StepFunctions::StateMachine"
    ]
