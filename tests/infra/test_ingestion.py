"""CallRail ingestion as synthesized, checked against docs/ingestion.md: schedule, poll queue, poller, grants."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from functions.poller.workspace import STOP_MARGIN_MS
from infra.ingestion import poll_interval, visibility_timeout
from infra.naming import DEFAULT_STACK_NAME
from shared.settings import PollerSettings
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    SSM,
    alarm_on,
    failure_destination_grants,
    function_grants,
    mapping_of,
    queue_is_private,
    schedule_dead_letter_queue,
    schedule_of,
)

pytestmark = pytest.mark.slow

DISPATCHER = "functions.poller.dispatch.lambda_handler"
POLLER = "functions.poller.workspace.lambda_handler"
FOURTEEN_DAYS = 14 * 24 * 3600
INGESTION_PATHS = (
    f"{DEFAULT_STACK_NAME}/Polling/",
    f"{DEFAULT_STACK_NAME}/PollSchedule/",
    f"{DEFAULT_STACK_NAME}/Functions/PollDispatcher",
    f"{DEFAULT_STACK_NAME}/Functions/WorkspacePoller",
)


def _resource(synthesized: Synthesized, logical_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = synthesized.template_json["Resources"][logical_id]
    return resource


def _table_id(synthesized: Synthesized) -> str:
    (table_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    return table_id


def _poll_queue_id(synthesized: Synthesized) -> str:
    _, mapping = mapping_of(synthesized, POLLER)
    queue_id: str = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
    return queue_id


def _environment(synthesized: Synthesized, handler: str) -> dict[str, Any]:
    variables: dict[str, Any] = _resource(synthesized, synthesized.function_id(handler))["Properties"]["Environment"][
        "Variables"
    ]
    return variables


# --- the table -------------------------------------------------------------------------------------------------


def test_day_counters_expire_through_ttl_on_expires_at(synthesized: Synthesized) -> None:
    table = _resource(synthesized, _table_id(synthesized))["Properties"]

    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


# --- the dispatcher's schedule ---------------------------------------------------------------------------------


def test_dispatcher_runs_every_five_minutes_with_retries_and_a_dead_letter_queue(synthesized: Synthesized) -> None:
    rule_id, rule = schedule_of(synthesized, DISPATCHER)
    (target,) = rule["Properties"]["Targets"]
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    dispatcher = synthesized.function_id(DISPATCHER)
    permissions = [p["Properties"] for p in synthesized.resources("AWS::Lambda::Permission").values()]

    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["Properties"]["State"] == "ENABLED"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 300  # the next tick supersedes it
    queue_is_private(synthesized, queue_id)
    assert _resource(synthesized, queue_id)["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS
    assert {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [dispatcher, "Arn"]},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
    } in permissions


def test_dispatch_dead_letter_queue_is_alarmed(synthesized: Synthesized) -> None:
    _, rule = schedule_of(synthesized, DISPATCHER)
    (target,) = rule["Properties"]["Targets"]
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]

    alarm = alarm_on(
        synthesized,
        "ApproximateNumberOfMessagesVisible",
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}},
    )

    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


@pytest.mark.parametrize(("context", "minutes"), [({}, 5), ({"poll_every_minutes": "15"}, 15)])
def test_poll_rate_comes_from_the_context(context: dict[str, Any], minutes: int) -> None:
    stack = cdk.Stack(cdk.App(context=context), "Probe")

    assert poll_interval(stack).to_minutes() == minutes


def test_a_poll_rate_below_one_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="poll_every_minutes"):
        poll_interval(cdk.Stack(cdk.App(context={"poll_every_minutes": 0}), "Probe"))


# --- the poll queue and the poller's mapping -------------------------------------------------------------------


def test_poll_queue_outlasts_six_poller_timeouts_and_redrives_after_three_receives(synthesized: Synthesized) -> None:
    queue_id = _poll_queue_id(synthesized)
    queue = _resource(synthesized, queue_id)["Properties"]
    poller = _resource(synthesized, synthesized.function_id(POLLER))["Properties"]
    dead_letter_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]

    assert poller["Timeout"] == 300
    # the poller keeps STOP_MARGIN_MS for one slow page and the cursor write, and works at least as long
    assert poller["Timeout"] * 1000 >= 2 * STOP_MARGIN_MS
    assert queue["VisibilityTimeout"] >= 6 * poller["Timeout"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    queue_is_private(synthesized, queue_id)
    queue_is_private(synthesized, dead_letter_id)
    assert _resource(synthesized, dead_letter_id)["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS


def test_visibility_timeout_is_six_function_timeouts() -> None:
    assert visibility_timeout(cdk.Duration.minutes(5)).to_seconds() == 1800


def test_poll_dead_letter_queue_is_alarmed(synthesized: Synthesized) -> None:
    queue = _resource(synthesized, _poll_queue_id(synthesized))["Properties"]
    dead_letter_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]

    alarm = alarm_on(
        synthesized,
        "ApproximateNumberOfMessagesVisible",
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letter_id, "QueueName"]}},
    )

    assert (alarm["Statistic"], alarm["Threshold"]) == ("Maximum", 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_poller_reads_the_poll_queue_one_workspace_at_a_time_with_bounded_concurrency(
    synthesized: Synthesized,
) -> None:
    _, mapping = mapping_of(synthesized, POLLER)
    properties = mapping["Properties"]

    assert _resource(synthesized, _poll_queue_id(synthesized))["Type"] == "AWS::SQS::Queue"
    assert properties["BatchSize"] == 1  # a slow CallRail account never holds up another workspace's poll
    assert "MaximumBatchingWindowInSeconds" not in properties
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"] == {"MaximumConcurrency": 20}
    assert "FilterCriteria" not in properties
    assert properties.get("Enabled", True) is True


@pytest.mark.parametrize("handler", [DISPATCHER, POLLER])
def test_poller_functions_errors_are_alarmed(synthesized: Synthesized, handler: str) -> None:
    alarm = alarm_on(
        synthesized, "Errors", {"Name": "FunctionName", "Value": {"Ref": synthesized.function_id(handler)}}
    )

    assert (alarm["Namespace"], alarm["Statistic"], alarm["Threshold"]) == ("AWS/Lambda", "Sum", 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# --- settings and grants ---------------------------------------------------------------------------------------


def test_dispatcher_gets_the_poller_settings_and_the_poll_queue(synthesized: Synthesized) -> None:
    environment = _environment(synthesized, DISPATCHER)

    assert {str(field.alias) for field in PollerSettings.model_fields.values() if field.is_required()} <= set(
        environment
    )
    assert environment["TABLE_NAME"] == {"Ref": _table_id(synthesized)}
    assert environment["CONFIG_PREFIX"] == "/gensail/dev/config"
    assert environment["POLL_QUEUE_URL"] == {"Ref": _poll_queue_id(synthesized)}
    assert environment["POWERTOOLS_SERVICE_NAME"] == "poller"
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "Gensail/dev"  # Metrics() takes no namespace


def test_poller_gets_the_poller_settings_and_the_callrail_api(synthesized: Synthesized) -> None:
    environment = _environment(synthesized, POLLER)

    assert {str(field.alias) for field in PollerSettings.model_fields.values() if field.is_required()} <= set(
        environment
    )
    assert environment["TABLE_NAME"] == {"Ref": _table_id(synthesized)}
    assert environment["CONFIG_PREFIX"] == "/gensail/dev/config"
    assert environment["CALLRAIL_API_URL"] == "https://api.callrail.com/v3"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "poller"
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "Gensail/dev"
    assert "POLL_QUEUE_URL" not in environment  # it only consumes the queue


def test_dispatcher_is_allowed_exactly_the_registry_the_config_and_sending_polls(synthesized: Synthesized) -> None:
    table = f"<{_table_id(synthesized)}.Arn>"

    assert function_grants(synthesized, DISPATCHER) == {
        "dynamodb:Query": {f"{table}/index/by_entity"},
        "ssm:GetParameters": {f"{SSM}/gensail/dev/config/*"},
        "ssm:GetParameter": {f"{SSM}/gensail/dev/config/*"},
        **failure_destination_grants(schedule_dead_letter_queue(synthesized, DISPATCHER)),
        # SendMessage also on the poll queue (the destination's grant adds the schedule's dead-letter queue)
        "sqs:SendMessage": {
            f"<{_poll_queue_id(synthesized)}.Arn>",
            f"<{schedule_dead_letter_queue(synthesized, DISPATCHER)}.Arn>",
        },
    }


def test_poller_is_allowed_exactly_its_items_the_config_the_callrail_keys_and_the_poll_queue(
    synthesized: Synthesized,
) -> None:
    table = f"<{_table_id(synthesized)}.Arn>"
    queue = {f"<{_poll_queue_id(synthesized)}.Arn>"}

    assert function_grants(synthesized, POLLER) == {
        "dynamodb:GetItem": {table},
        "dynamodb:BatchGetItem": {table},  # the dedupe hint (CallJobStore.already_ingested)
        "dynamodb:PutItem": {table},
        "dynamodb:UpdateItem": {table},
        "ssm:GetParameters": {f"{SSM}/gensail/dev/config/*"},
        # the CallRail API keys only: no webhook signing secret
        "ssm:GetParameter": {f"{SSM}/gensail/dev/config/*", f"{SSM}/gensail/dev/secrets/callrail/*"},
        "kms:Decrypt": {"arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"},
        # from the SQS event source
        "sqs:ReceiveMessage": queue,
        "sqs:DeleteMessage": queue,
        "sqs:ChangeMessageVisibility": queue,
        "sqs:GetQueueAttributes": queue,
        "sqs:GetQueueUrl": queue,
    }


# --- outputs and cdk-nag ---------------------------------------------------------------------------------------


def test_poll_queue_url_is_an_output(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]

    assert outputs["PollQueueUrl"]["Value"] == {"Ref": _poll_queue_id(synthesized)}
    assert {"ApiUrl", "TableName", "StateMachineArn", "WorkerDeadLetterQueueUrl"} <= set(outputs)


def test_only_the_poller_functions_wildcards_and_the_dispatch_dead_letter_queue_are_acknowledged(
    synthesized: Synthesized,
) -> None:
    (report,) = synthesized.validation_report["pluginReports"]
    acknowledged = {
        (finding["ruleName"], construct["constructPath"])
        for finding in report["suppressedViolations"]
        for construct in finding["violatingConstructs"]
        if construct["constructPath"].startswith(INGESTION_PATHS)
    }
    config = "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter"
    dispatcher_policy = f"{DEFAULT_STACK_NAME}/Functions/PollDispatcherRole/DefaultPolicy/Resource"
    poller_policy = f"{DEFAULT_STACK_NAME}/Functions/WorkspacePollerRole/DefaultPolicy/Resource"

    assert acknowledged == {
        (f"{config}/gensail/dev/config/*]", dispatcher_policy),
        (f"{config}/gensail/dev/config/*]", poller_policy),
        (f"{config}/gensail/dev/secrets/callrail/*]", poller_policy),
        ("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]", poller_policy),
        ("AwsSolutions-SQS3", f"{DEFAULT_STACK_NAME}/PollSchedule/DeadLetterQueue/Resource"),
    }
