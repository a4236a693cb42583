"""The jobs API's two functions, the secret that signs its cursors, and what they may touch."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.data import GET_ITEM, QUERY, UPDATE_ITEM
from infra.functions import PythonFunctions
from infra.nag import acknowledge
from infra.parameters import config_prefix, grant_config_read, grant_config_write
from shared.settings import ApiSettings, AuthorizerSettings


@dataclass(frozen=True)
class ApiFunctions:
    authorizer: lambda_.Function
    api: lambda_.Function
    cursor_secret: secretsmanager.Secret


def add_api_functions(scope: Construct, functions: PythonFunctions) -> ApiFunctions:
    """The API-key authorizer and the API function (jobs and config routes), each allowed only what it does."""
    cursor_secret = secretsmanager.Secret(
        scope,
        "CursorSecret",
        description="Signs the API's pagination cursors",
        generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
    )
    acknowledge(
        cursor_secret,
        "SMG4",
        "The secret only signs opaque pagination cursors. Rotation would need a rotation function and would "
        "only invalidate cursors in flight; it is rotated by hand (new value) if it leaks, and the API picks "
        "the new value up within its one-hour cache.",
    )
    authorizer = functions.add(
        "Authorizer",
        handler="functions.authorizer.handler.lambda_handler",
        description="Resolves the Bearer API key of a request to its scope",
        settings=AuthorizerSettings,
        values={},
        service="authorizer",
        metrics=False,
        item_actions=[GET_ITEM],
        timeout=cdk.Duration.seconds(5),
    )
    api = functions.add(
        "Api",
        handler="functions.api.handler.lambda_handler",
        description="The public jobs API",
        settings=ApiSettings,
        values={"cursor_secret_arn": cursor_secret.secret_arn, "config_prefix": config_prefix(scope)},
        service="jobs-api",
        item_actions=[GET_ITEM, UPDATE_ITEM],  # listing queries the indexes only
        index_actions=[QUERY],
        memory_size=1024,
    )
    cursor_secret.grant_read(api)
    # The config routes: documents and history in the table (config partitions only), copies in SSM.
    functions.data.grant_config_documents(api)
    functions.data.grant_requeue_batches(api)
    grant_config_read(api, scope)
    grant_config_write(api, scope)
    return ApiFunctions(authorizer=authorizer, api=api, cursor_secret=cursor_secret)
