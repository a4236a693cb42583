"""``GensailStack``: the table, the functions, the API and their grants, composed from the infra constructs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.api import JobsApi
from infra.data import Data
from infra.functions import PythonFunctions
from infra.openapi import load_openapi

STACK_NAME = "GensailStack"
CONFIG_PARAMETER_PREFIX = "/gensail/config"
METRICS_NAMESPACE = "Gensail"

GET_ITEM = "dynamodb:GetItem"
QUERY = "dynamodb:Query"
UPDATE_ITEM = "dynamodb:UpdateItem"


class GensailStack(cdk.Stack):
    """The call-processing platform: jobs table, jobs API and its API-key authorizer."""

    def __init__(self, scope: Construct, construct_id: str = STACK_NAME, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, stack_name=STACK_NAME, **kwargs)
        self.data = Data(self, "Data")
        self.functions = PythonFunctions(self, "Functions")
        self.cursor_secret = secretsmanager.Secret(
            self,
            "CursorSecret",
            description="Signs the API's pagination cursors",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        self.authorizer_function = self.add_function(
            "Authorizer",
            handler="functions.authorizer.handler.lambda_handler",
            description="Resolves the Bearer API key of a request to its scope",
            environment={"POWERTOOLS_SERVICE_NAME": "authorizer"},
            item_actions=[GET_ITEM],
            timeout=cdk.Duration.seconds(5),
        )
        self.api_function = self.add_function(
            "Api",
            handler="functions.api.handler.lambda_handler",
            description="The public jobs API",
            environment={
                "CURSOR_SECRET_ARN": self.cursor_secret.secret_arn,
                "POWERTOOLS_SERVICE_NAME": "jobs-api",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            item_actions=[GET_ITEM, UPDATE_ITEM],  # listing queries the indexes only
            index_actions=[QUERY],
            memory_size=1024,
        )
        self.cursor_secret.grant_read(self.api_function)

        self.api = JobsApi(
            self,
            "Api",
            handler=self.api_function,
            authorizer_handler=self.authorizer_function,
            openapi=load_openapi(),
        )

        cdk.CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="Base URL of the jobs API stage")
        cdk.CfnOutput(self, "TableName", value=self.data.table.table_name)
        cdk.CfnOutput(
            self,
            "ConfigParameterPrefix",
            value=CONFIG_PARAMETER_PREFIX,
            description="SSM prefix of the hierarchical processing config",
        )
        cdk.CfnOutput(self, "CursorSecretArn", value=self.cursor_secret.secret_arn)

    def add_function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        item_actions: Sequence[str] = (),
        index_actions: Sequence[str] = (),
        memory_size: int = 512,
        timeout: cdk.Duration = cdk.Duration.seconds(10),  # noqa: B008 - an immutable value
    ) -> lambda_.Function:
        """A function that knows the table (``TABLE_NAME``) and may call exactly these actions on it."""
        function = self.functions.add(
            construct_id,
            handler=handler,
            description=description,
            environment={"TABLE_NAME": self.data.table.table_name, **environment},
            memory_size=memory_size,
            timeout=timeout,
        )
        self.data.grant(function, item_actions=item_actions, index_actions=index_actions)
        return function
