"""Requeue batches in the template: the starter's stream mapping, the state machine, grants and alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from shared import schema
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    BATCH_ANNOUNCE,
    BATCH_FINISH,
    BATCH_PAGE,
    BATCH_STARTER,
    alarm_on,
    function_grants,
    machine_of,
    mapping_of,
    render,
    role_grants,
)

pytestmark = pytest.mark.slow


def definition(synthesized: Synthesized) -> dict[str, Any]:
    """The batch state machine's definition, with each function ARN rendered as ``<Id.Arn>``."""
    _, machine = machine_of(synthesized, "RequeueBatches")
    document: dict[str, Any] = json.loads(render(machine["Properties"]["DefinitionString"]))
    return document


def test_a_new_batch_item_and_nothing_else_starts_the_starter(synthesized: Synthesized) -> None:
    _, mapping = mapping_of(synthesized, BATCH_STARTER)
    properties = mapping["Properties"]
    patterns = [EventPattern.load(f["Pattern"]) for f in properties["FilterCriteria"]["Filters"]]

    def record(event: str, sk: str, entity: str = "requeue_batch") -> dict[str, Any]:
        image = {"pk": {"S": "BATCH#rb_1"}, "sk": {"S": sk}, "entity": {"S": entity}}
        return {"eventName": event, "dynamodb": {"NewImage": image}}

    def starts(candidate: dict[str, Any]) -> bool:
        return any(pattern.matches_event(candidate) for pattern in patterns)  # type: ignore[arg-type]

    assert starts(record("INSERT", "BATCH"))
    assert not starts(record("MODIFY", "BATCH"))  # its progress
    assert not starts(record("INSERT", "WORKSPACE#ws_1"))  # a member item
    assert not starts(record("INSERT", "JOB", entity="job"))
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "OnFailure" in properties["DestinationConfig"]


def test_the_state_machine_loops_pages_and_waits_then_finishes_and_announces(synthesized: Synthesized) -> None:
    states = definition(synthesized)["States"]
    assert definition(synthesized)["StartAt"] == "Page"
    assert states["Page"]["Next"] == "Done?"
    assert states["Done?"]["Choices"] == [{"Variable": "$.done", "BooleanEquals": True, "Next": "Finish"}]
    assert states["Done?"]["Default"] == "Throttle"
    assert states["Throttle"] == {"Type": "Wait", "SecondsPath": "$.wait_seconds", "Next": "Page"}
    assert states["Finish"]["Next"] == "Announce"
    assert states["FinishFailed"]["Next"] == "Announce"
    # every error the retries do not cure ends the batch failed, through the task that releases its locks
    for name in ("Page", "Finish"):
        assert states[name]["Retry"][0]["ErrorEquals"] == ["States.ALL"]
        assert states[name]["Retry"][0]["BackoffRate"] == 2
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FinishFailed"}
        ]
    assert states["FinishFailed"]["Parameters"] == {"batch_id.$": "$.batch_id", "outcome": "failed"}
    # an announcement that keeps failing is dead-lettered, not dropped
    assert "TransientStageError" in states["Announce"]["Retry"][0]["ErrorEquals"]
    assert states["Announce"]["Catch"][0]["Next"] == "DeadLetterAnnouncement"
    assert states["DeadLetterAnnouncement"]["Resource"].endswith(":states:::sqs:sendMessage")
    # a batch that ended failed (FinishFailed's event) fails its execution: what the failed-executions alarm counts
    assert states["FinishFailed"]["ResultPath"] == "$.event"
    assert states["Ended?"]["Choices"] == [
        {"Variable": "$.event.status", "StringEquals": "failed", "Next": "BatchFailed"}
    ]
    assert states["BatchFailed"]["Type"] == "Fail"


def test_each_batch_function_may_touch_only_its_own_items(synthesized: Synthesized) -> None:
    (table_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    table = f"<{table_id}.Arn>"
    page = function_grants(synthesized, BATCH_PAGE)
    assert set(page) == {
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "ssm:GetParameters",
        "ssm:GetParameter",
    }
    assert page["dynamodb:Query"] == {f"{table}/index/{schema.BY_WORKSPACE_STATUS.name}"}
    finish = function_grants(synthesized, BATCH_FINISH)
    assert set(finish) == {"dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    announce = function_grants(synthesized, BATCH_ANNOUNCE)
    assert "events:PutEvents" in announce
    assert "dynamodb:UpdateItem" not in announce
    starter = function_grants(synthesized, BATCH_STARTER)
    machine_id, _ = machine_of(synthesized, "RequeueBatches")
    assert starter["states:StartExecution"] == {f"<{machine_id}>"}
    # the item grants are limited to the batch's own partitions (jobs, batches, throttles, locks)
    leading = {
        action: statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "Condition" in statement
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action == "dynamodb:DeleteItem"
    }
    assert leading == {"dynamodb:DeleteItem": ["REQUEUE_LOCK#*"]}


def test_the_state_machine_invokes_only_its_three_functions(synthesized: Synthesized) -> None:
    _, machine = machine_of(synthesized, "RequeueBatches")
    grants = role_grants(synthesized, machine["Properties"]["RoleArn"]["Fn::GetAtt"][0])
    invoked = {resource.split(".Arn>")[0] + ".Arn>" for resource in grants["lambda:InvokeFunction"]}
    assert invoked == {f"<{synthesized.function_id(h)}.Arn>" for h in (BATCH_PAGE, BATCH_FINISH, BATCH_ANNOUNCE)}
    assert set(grants["sqs:SendMessage"]) == {r for r in grants["sqs:SendMessage"] if "AnnounceDeadLetterQueue" in r}


def test_failed_and_timed_out_batches_and_dead_letters_are_alarmed(synthesized: Synthesized) -> None:
    machine_id, _ = machine_of(synthesized, "RequeueBatches")
    dimension = {"Name": "StateMachineArn", "Value": {"Ref": machine_id}}
    assert alarm_on(synthesized, "ExecutionsFailed", dimension)["Threshold"] == 1
    assert alarm_on(synthesized, "ExecutionsTimedOut", dimension)["Threshold"] == 1
    queues = [
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    assert any("AnnounceDeadLetterQueue" in queue for queue in queues)
    assert any("StreamStarterDeadLetterQueue" in queue for queue in queues)
