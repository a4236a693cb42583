"""SSM Parameter Store paths the functions read: the config hierarchy, the webhook secrets and CallRail API keys."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from shared.config.model import CALLRAIL_KEYS_PREFIX

CONFIG_PARAMETER_PREFIX = "/gensail/config"
SECRETS_PARAMETER_PREFIX = "/gensail/secrets"
# The CallRail API keys, a part of the secrets path: the poller reads these and no other secret.
CALLRAIL_KEYS_PARAMETER_PREFIX = CALLRAIL_KEYS_PREFIX.rstrip("/")


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


def grant_config_write(grantee: iam.IGrantable, scope: Construct) -> None:
    """Write the config documents (the API and admin command copy each committed change to its parameter)."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["ssm:PutParameter"],
        resource_arns=[parameters_under(scope, CONFIG_PARAMETER_PREFIX)],
    )


def grant_secrets_read(grantee: iam.IGrantable, scope: Construct, prefix: str = SECRETS_PARAMETER_PREFIX) -> None:
    """Read (decrypted) the SecureString secrets below ``prefix``, encrypted with the account's ``aws/ssm`` key.

    ``prefix`` is the whole secrets path (webhook signing secrets and CallRail API keys) or a part of it, such as
    ``CALLRAIL_KEYS_PARAMETER_PREFIX``. The AWS managed key's own policy already lets the account's principals
    decrypt through SSM; the explicit ``kms:Decrypt`` keeps the grant working if the secrets move to a customer
    managed key. Its key id is not known at synth time, so it is any key of this account and region, but only
    when SSM asks for it and only for a parameter below ``prefix`` (SSM's encryption context names the parameter).
    """
    if prefix != SECRETS_PARAMETER_PREFIX and not prefix.startswith(f"{SECRETS_PARAMETER_PREFIX}/"):
        raise ValueError(f"secrets live under {SECRETS_PARAMETER_PREFIX}, not {prefix}")
    secrets = parameters_under(scope, prefix)
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
