"""The pipeline's intake in the template: the worker on the table stream, the reconciler on its schedule."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from moto.events.models import EventPattern

from infra.worker import reconcile_interval, stuck_after
from shared import schema
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    RECONCILER,
    WORKER,
    alarm_on,
    environment_of,
    function_grants,
    mapping_of,
    queue_is_private,
    schedule_of,
    stack_ids,
)

pytestmark = pytest.mark.slow

# The contract's two filters, spelled out here independently of infra/worker.py.
CONTRACT_FILTERS = [
    {
        "eventName": ["INSERT"],
        "dynamodb": {"NewImage": {"entity": {"S": ["job"]}, "status": {"S": ["queued"]}}},
    },
    {
        "eventName": ["MODIFY"],
        "dynamodb": {
            "NewImage": {"entity": {"S": ["job"]}, "status": {"S": ["queued"]}},
            "OldImage": {"status": {"S": [{"anything-but": ["queued"]}]}},
        },
    },
]


# --- the worker's stream mapping -------------------------------------------------------------------------------


def test_worker_reads_the_table_stream_with_the_contract_settings(synthesized: Synthesized) -> None:
    _, mapping = mapping_of(synthesized, WORKER)
    properties = mapping["Properties"]
    ids = stack_ids(synthesized)
    dead_letter_id = properties["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]

    assert properties["FunctionName"] == {"Ref": synthesized.function_id(WORKER)}
    assert properties["EventSourceArn"] == {"Fn::GetAtt": [ids["table"], "StreamArn"]}
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert properties["BatchSize"] == 25
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["MaximumRetryAttempts"] == 5
    assert properties["MaximumRecordAgeInSeconds"] == 24 * 3600
    assert synthesized.template_json["Resources"][dead_letter_id]["Type"] == "AWS::SQS::Queue"


def test_stream_filters_are_the_contracts(synthesized: Synthesized) -> None:
    _, mapping = mapping_of(synthesized, WORKER)

    patterns = [json.loads(f["Pattern"]) for f in mapping["Properties"]["FilterCriteria"]["Filters"]]

    assert patterns == CONTRACT_FILTERS


def _job_image(status: str, entity: str = "job", **more: str) -> dict[str, Any]:
    return {
        "pk": {"S": "JOB#123"},
        "entity": {"S": entity},
        "status": {"S": status},
        **{name: {"S": value} for name, value in more.items()},
    }


def _record(event_name: str, new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {"Keys": {"pk": new["pk"]}, "NewImage": new, "StreamViewType": schema.STREAM_VIEW}
    if old is not None:
        dynamodb["OldImage"] = old
    return {"eventID": "1", "eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


@pytest.mark.parametrize(
    ("record", "delivered"),
    [
        pytest.param(_record("INSERT", _job_image("queued")), True, id="job inserted queued"),
        pytest.param(_record("INSERT", _job_image("skipped")), False, id="job inserted skipped"),
        pytest.param(_record("MODIFY", _job_image("queued"), _job_image("skipped")), True, id="requeue"),
        pytest.param(
            _record("MODIFY", _job_image("queued", updated_at="2"), _job_image("queued", updated_at="1")),
            False,
            id="queued job touched",
        ),
        pytest.param(
            _record("MODIFY", _job_image("transcribing"), _job_image("queued")), False, id="queued -> transcribing"
        ),
        pytest.param(_record("INSERT", _job_image("queued", entity="workspace")), False, id="not a job"),
        pytest.param(_record("REMOVE", _job_image("queued")), False, id="job removed"),
    ],
)
def test_only_transitions_into_queued_reach_the_worker(
    synthesized: Synthesized, record: dict[str, Any], delivered: bool
) -> None:
    _, mapping = mapping_of(synthesized, WORKER)
    filters = [EventPattern.load(f["Pattern"]) for f in mapping["Properties"]["FilterCriteria"]["Filters"]]

    event: Any = record  # moto types it as an EventBridge event; the matcher takes any JSON object
    assert any(pattern.matches_event(event) for pattern in filters) is delivered


def test_worker_dead_letter_queue_is_encrypted_ssl_only_and_alarmed(synthesized: Synthesized) -> None:
    _, mapping = mapping_of(synthesized, WORKER)
    queue_id = mapping["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]

    queue_is_private(synthesized, queue_id)
    alarm = alarm_on(
        synthesized,
        "ApproximateNumberOfMessagesVisible",
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}},
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert "sqs:SendMessage" in function_grants(synthesized, WORKER)
    assert f"<{queue_id}.Arn>" in function_grants(synthesized, WORKER)["sqs:SendMessage"]


@pytest.mark.parametrize("handler", [WORKER, RECONCILER])
def test_intake_errors_are_alarmed(synthesized: Synthesized, handler: str) -> None:
    alarm = alarm_on(
        synthesized, "Errors", {"Name": "FunctionName", "Value": {"Ref": synthesized.function_id(handler)}}
    )

    assert (alarm["Namespace"], alarm["Statistic"], alarm["Threshold"]) == ("AWS/Lambda", "Sum", 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# --- the reconciler's schedule ---------------------------------------------------------------------------------


def test_reconciler_runs_every_five_minutes_with_retries_and_a_dead_letter_queue(synthesized: Synthesized) -> None:
    rule_id, rule = schedule_of(synthesized, RECONCILER)
    (target,) = rule["Properties"]["Targets"]
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    reconciler = synthesized.function_id(RECONCILER)
    permissions = [p["Properties"] for p in synthesized.resources("AWS::Lambda::Permission").values()]

    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["Properties"]["State"] == "ENABLED"
    assert target["Arn"] == {"Fn::GetAtt": [reconciler, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    queue_is_private(synthesized, queue_id)
    assert {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [reconciler, "Arn"]},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
    } in permissions


@pytest.mark.parametrize(("context", "minutes"), [({}, 5), ({"reconcile_every_minutes": "15"}, 15)])
def test_reconcile_rate_comes_from_the_context(context: dict[str, Any], minutes: int) -> None:
    stack = cdk.Stack(cdk.App(context=context), "Probe")

    assert reconcile_interval(stack).to_minutes() == minutes


@pytest.mark.parametrize(("context", "minutes"), [({}, 15), ({"stuck_after_minutes": "40"}, 40)])
def test_the_age_of_a_stuck_job_comes_from_the_context(context: dict[str, Any], minutes: int) -> None:
    stack = cdk.Stack(cdk.App(context=context), "Probe")

    assert stuck_after(stack).to_minutes() == minutes


def test_a_reconcile_rate_below_one_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="reconcile_every_minutes"):
        reconcile_interval(cdk.Stack(cdk.App(context={"reconcile_every_minutes": 0}), "Probe"))


def test_reconciler_treats_jobs_queued_for_15_minutes_as_stuck(synthesized: Synthesized) -> None:
    assert environment_of(synthesized, RECONCILER)["STUCK_AFTER_SECONDS"] == "900"


@pytest.mark.parametrize("handler", [WORKER, RECONCILER])
def test_intake_reads_config_heads_only_in_config_partitions(synthesized: Synthesized, handler: str) -> None:
    function = synthesized.template_json["Resources"][synthesized.function_id(handler)]
    role = {"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]}
    statements = [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:BatchGetItem"
        in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    ]

    (statement,) = statements
    assert statement["Action"] == "dynamodb:BatchGetItem"
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONFIG#*#*"]}}
