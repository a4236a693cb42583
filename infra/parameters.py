"""SSM Parameter Store paths the functions read: the config hierarchy and the webhook secrets."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

CONFIG_PARAMETER_PREFIX = "/gensail/config"
SECRETS_PARAMETER_PREFIX = "/gensail/secrets"


def parameters_under(scope: Construct, prefix: str) -> str:
    """The ARN pattern of every parameter below ``prefix`` (e.g. ``.../parameter/gensail/config/*``)."""
    return cdk.Stack.of(scope).format_arn(service="ssm", resource="parameter", resource_name=f"{prefix.strip('/')}/*")


def grant_config_read(grantee: iam.IGrantable, scope: Construct) -> None:
    """Read the config documents: batched (``GetParameters``, Powertools) and one at a time (``GetParameter``)."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["ssm:GetParameters", "ssm:GetParameter"],
        resource_arns=[parameters_under(scope, CONFIG_PARAMETER_PREFIX)],
    )


def grant_secrets_read(grantee: iam.IGrantable, scope: Construct) -> None:
    """Read (decrypted) the SecureString webhook secrets, encrypted with the account's ``aws/ssm`` key.

    The AWS managed key's own policy already lets the account's principals decrypt through SSM; the explicit
    ``kms:Decrypt`` keeps the grant working if the secrets move to a customer managed key. Its key id is not
    known at synth time, so it is any key of this account and region, but only when SSM asks for it and only
    for a parameter under the secrets path (SSM's encryption context names the parameter).
    """
    secrets = parameters_under(scope, SECRETS_PARAMETER_PREFIX)
    iam.Grant.add_to_principal(grantee=grantee, actions=["ssm:GetParameter"], resource_arns=[secrets])
    stack = cdk.Stack.of(scope)
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt"],
            resources=[stack.format_arn(service="kms", resource="key", resource_name="*")],
            conditions={
                "StringEquals": {"kms:ViaService": f"ssm.{stack.region}.{stack.url_suffix}"},
                "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": secrets},
            },
        )
    )
