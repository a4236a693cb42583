"""Every alarm in the stack notifies one encrypted topic; the gaps no construct watched are alarmed too."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template

from infra.monitoring import ALARM_EMAIL_CONTEXT_KEY, AlarmNotifications
from infra.stage import Stage
from infra.worker import ALARM_PERIOD
from tests.infra.conftest import Synthesized
from tests.infra.helpers import alarm_on, only, pipeline_machine, render

MARK_FAILED = "functions.stages.fail.lambda_handler"


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(synthesized: Synthesized) -> None:
    topic_id, _ = only(synthesized.resources("AWS::SNS::Topic"))
    alarms = synthesized.resources("AWS::CloudWatch::Alarm")

    assert len(alarms) >= 10
    for logical_id, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}], logical_id
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic_id}], logical_id
        assert alarm["Properties"]["AlarmDescription"], logical_id


def test_the_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(synthesized: Synthesized) -> None:
    _, topic = only(synthesized.resources("AWS::SNS::Topic"))
    key_id, key = only(synthesized.resources("AWS::KMS::Key"))

    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    (cloudwatch,) = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_topic_takes_this_accounts_alarms_over_tls_only(synthesized: Synthesized) -> None:
    topic_id, _ = only(synthesized.resources("AWS::SNS::Topic"))
    (policy,) = synthesized.resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]

    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in statements
    )
    # The topic policy replaces SNS's default one: without this grant no alarm could publish.
    (alarms,) = [statement for statement in statements if statement.get("Sid") == "AllowThisAccountsAlarms"]
    assert alarms["Effect"] == "Allow"
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == "sns:Publish"
    assert alarms["Resource"] == {"Ref": topic_id}
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert render(alarms["Condition"]["ArnLike"]["aws:SourceArn"]) == (
        "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"
    )


def test_api_server_errors_are_alarmed(synthesized: Synthesized) -> None:
    _, rest_api = only(synthesized.resources("AWS::ApiGateway::RestApi"))
    alarms = [
        alarm["Properties"]
        for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "5XXError"
    ]
    (alarm,) = alarms
    assert alarm["Namespace"] == "AWS/ApiGateway"
    assert {"Name": "ApiName", "Value": rest_api["Properties"]["Name"]} in alarm["Dimensions"]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["Period"]) == ("Sum", 1, ALARM_PERIOD.to_seconds())


def test_mark_failed_errors_and_pipeline_timeouts_are_alarmed(synthesized: Synthesized) -> None:
    machine_id, _ = pipeline_machine(synthesized)
    mark_failed = alarm_on(
        synthesized, "Errors", {"Name": "FunctionName", "Value": {"Ref": synthesized.function_id(MARK_FAILED)}}
    )
    timeouts = alarm_on(synthesized, "ExecutionsTimedOut", {"Name": "StateMachineArn", "Value": {"Ref": machine_id}})

    for alarm in (mark_failed, timeouts):
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"


def test_the_topic_has_no_subscription_unless_an_address_is_given(synthesized: Synthesized) -> None:
    assert synthesized.resources("AWS::SNS::Subscription") == {}


def test_an_address_in_the_context_subscribes_by_email() -> None:
    stack = cdk.Stack(cdk.App(context={ALARM_EMAIL_CONTEXT_KEY: "oncall@example.com"}), "Probe")
    stack.stage = Stage("dev")  # type: ignore[attr-defined] # what GensailStack carries for its constructs
    AlarmNotifications(stack, "Alarms")

    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": Match.any_value()}
    )
