"""Once per account and region: the CloudWatch Logs role of API Gateway (``AWS::ApiGateway::Account``).

A REST API stage with access logging cannot be created until the account names this role, and the setting is
one per account and region, shared by every API in it. So it lives in its own small stack, which every stage's
stack depends on (``cdk deploy`` deploys it first) and none of them owns: deleting a stage leaves the other
stages' logging alone. Deleting this stack keeps the role and the setting, for the same reason. An account where
something else already manages the setting deploys with ``-c api_gateway_account=false``.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge
from infra.naming import SERVICE, STACK_PREFIX
from infra.stage import DEFAULT_OWNER, OWNER_CONTEXT_KEY, context_flag

ACCOUNT_STACK_NAME = f"{STACK_PREFIX}-ApiGatewayAccount"
ACCOUNT_CONTEXT_KEY = "api_gateway_account"
# AWS's managed policy for exactly this role (CloudWatch Logs groups and streams of API Gateway's own naming).
PUSH_TO_CLOUDWATCH_LOGS = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def wants_account_stack(scope: Construct) -> bool:
    """Whether this app manages the account's API Gateway logging role (``-c api_gateway_account``, default yes)."""
    return context_flag(scope.node.try_get_context(ACCOUNT_CONTEXT_KEY), default=True, key=ACCOUNT_CONTEXT_KEY)


class ApiGatewayAccountStack(cdk.Stack):
    """The role API Gateway writes CloudWatch Logs with, set as the account's (region's) API Gateway role."""

    def __init__(self, scope: Construct, **kwargs: Any) -> None:
        super().__init__(
            scope,
            ACCOUNT_STACK_NAME,
            stack_name=ACCOUNT_STACK_NAME,
            description="API Gateway's CloudWatch Logs role for this account and region (shared by every stage)",
            **kwargs,
        )
        owner = str(self.node.try_get_context(OWNER_CONTEXT_KEY) or DEFAULT_OWNER)
        for key, value in {"service": SERVICE, "stage": "account", "owner": owner}.items():
            cdk.Tags.of(self).add(key, value)
        self.role = iam.Role(
            self,
            "CloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway writes access and execution logs to CloudWatch Logs with this role",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(PUSH_TO_CLOUDWATCH_LOGS)],
        )
        acknowledge(
            self.role,
            f"IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{PUSH_TO_CLOUDWATCH_LOGS}]",
            "AmazonAPIGatewayPushToCloudWatchLogs is AWS's policy for API Gateway's account-level logging role, "
            "the documented way to set it up; AWS keeps it in step with what API Gateway writes.",
        )
        self.api_gateway_account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        for resource in (self.role, self.api_gateway_account):
            resource.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
