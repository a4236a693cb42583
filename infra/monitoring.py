"""Where alarms go: one encrypted SNS topic that every alarm in the stack notifies, on alarm and on recovery.

The alarms themselves sit beside what they watch (dead-letter queues, function errors, the API stage, the
state machine); ``AlarmNotifications.notify_on_every_alarm`` wires each of them to the topic once the stack is
built, so an alarm added later cannot be left without a recipient. Operators subscribe to the topic, or name an
address at deploy time: ``make deploy ARGS="-c alarm_email=oncall@example.com"``.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.stage import Stage
from infra.worker import ALARM_PERIOD, alarm_at_least_once

ALARM_EMAIL_CONTEXT_KEY = "alarm_email"


class AlarmNotifications(Construct):
    """The alarm topic, encrypted with a key CloudWatch may use (the AWS-managed SNS key does not allow it)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the Gensail alarm topic",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # CloudWatch publishes to an encrypted topic only if it may use the topic's key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
            )
        )
        stage = Stage.of(self)
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=stage.alarm_topic_name,
            display_name=f"Gensail alarms ({stage.name})",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The topic's own policy (it holds the TLS-only deny) replaces SNS's default one, so the alarms of this
        # account must be allowed to publish explicitly.
        stack = cdk.Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            )
        )
        email = self.node.try_get_context(ALARM_EMAIL_CONTEXT_KEY)
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(str(email)))

    def notify_on_every_alarm(self, scope: Construct) -> None:
        """Send every alarm under ``scope`` to the topic when it fires and when it clears."""
        action = cloudwatch_actions.SnsAction(self.topic)
        for node in scope.node.find_all():
            if isinstance(node, cloudwatch.Alarm):
                node.add_alarm_action(action)
                node.add_ok_action(action)


def api_server_errors_alarm(scope: Construct, construct_id: str, rest_api: apigw.RestApi) -> cloudwatch.Alarm:
    """Any 5xx the API stage answered: the API handler failing, or API Gateway failing to reach it."""
    errors = rest_api.metric_server_error(period=ALARM_PERIOD, statistic="Sum")
    return alarm_at_least_once(scope, construct_id, errors, "The jobs API answered with a 5xx")


def pipeline_timeouts_alarm(scope: Construct, construct_id: str, state_machine: sfn.StateMachine) -> cloudwatch.Alarm:
    """An execution that hit its timeout ended without MarkFailed recording anything on the job."""
    timed_out = state_machine.metric_timed_out(period=ALARM_PERIOD, statistic="Sum")
    return alarm_at_least_once(
        scope, construct_id, timed_out, "A pipeline execution timed out; its job was not marked failed"
    )
