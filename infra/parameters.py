"""SSM Parameter Store paths the functions read: the config hierarchy, the webhook secrets and CallRail API keys.

Every path is the stage's (``infra.stage``, ``shared.parameters``): ``/gensail/{stage}/config`` and
``/gensail/{stage}/secrets``; functions learn the config prefix from their settings (``config_prefix``)
and derive the rest.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import account_arn, acknowledge_wildcard
from infra.stage import Stage
from shared.parameters import ParameterPaths


def stage_parameters(scope: Construct) -> ParameterPaths:
    """The parameter paths of the stage ``scope`` is deployed in."""
    return Stage.of(scope).parameters


def config_prefix(scope: Construct) -> str:
    """``/gensail/{stage}/config``: the ``config_prefix`` setting of every function that reads config."""
    return stage_parameters(scope).config


def parameters_under(scope: Construct, prefix: str) -> str:
    """The ARN pattern of every parameter below ``prefix`` (e.g. ``.../parameter/gensail/config/*``)."""
    return cdk.Stack.of(scope).format_arn(service="ssm", resource="parameter", resource_name=f"{prefix.strip('/')}/*")


def _acknowledge_config_path(grantee: iam.IGrantable, scope: Construct) -> None:
    acknowledge_wildcard(
        grantee,
        account_arn("ssm", f"parameter{config_prefix(scope)}/*"),
        "The config hierarchy is one SSM parameter per tenant level (platform, partner, organization, "
        "workspace) and tenant ids are only known at run time; the grant covers the config path only.",
    )


def grant_config_read(grantee: iam.IGrantable, scope: Construct) -> None:
    """Read the config documents: batched (``GetParameters``, Powertools) and one at a time (``GetParameter``)."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["ssm:GetParameters", "ssm:GetParameter"],
        resource_arns=[parameters_under(scope, config_prefix(scope))],
    )
    _acknowledge_config_path(grantee, scope)


def grant_config_write(grantee: iam.IGrantable, scope: Construct) -> None:
    """Write the config documents (the API and admin command copy each committed change to its parameter)."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["ssm:PutParameter"],
        resource_arns=[parameters_under(scope, config_prefix(scope))],
    )
    _acknowledge_config_path(grantee, scope)


def grant_secrets_read(grantee: iam.IGrantable, scope: Construct, prefix: str, secrets: str) -> None:
    """Read (decrypted) the SecureString secrets below ``prefix``, encrypted with the account's ``aws/ssm`` key.

    ``prefix`` is one folder of the stage's secrets path: ``webhook_secrets`` or ``callrail_keys`` of
    ``stage_parameters(scope)``; no function may read every secret. The AWS managed key's own policy already lets
    the account's principals decrypt through SSM; the explicit ``kms:Decrypt`` keeps the grant working if the
    secrets move to a customer managed key. Its key id is not known at synth time, so it is any key of this account
    and region, but only when SSM asks for it and only for a parameter below ``prefix`` (SSM's encryption context
    names the parameter). ``secrets`` says what they are, for the acknowledgement of the two wildcards.
    """
    secrets_path = stage_parameters(scope).secrets
    if not prefix.startswith(f"{secrets_path}/"):
        raise ValueError(f"a secrets grant names one folder under {secrets_path}, not {prefix}")
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
    acknowledge_wildcard(
        grantee,
        account_arn("ssm", f"parameter{prefix}/*"),
        f"{secrets}, named at run time by the config; the grant is GetParameter on {prefix} only.",
    )
    acknowledge_wildcard(
        grantee,
        account_arn("kms", "key/*"),
        f"Decrypts SecureString values under {prefix}: the key id of the account's aws/ssm key is not "
        "known at synth time, so any key of this account, but only through SSM (kms:ViaService) and only for "
        f"parameters under {prefix} (kms:EncryptionContext:PARAMETER_ARN).",
    )
