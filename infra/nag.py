"""cdk-nag on every synth: the AwsSolutions pack as a validation plugin, and how a finding is acknowledged.

A finding that is not acknowledged makes synth fail. Each construct acknowledges the findings on the resources and
grants it creates, right where it creates them: one rule on the one CloudFormation resource it was found on, with
the reason it is acceptable for this design.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"


def enable_nag(app: cdk.App) -> None:
    """Run the AwsSolutions checks when ``app`` synthesizes; any unacknowledged finding fails synthesis."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``APIG2``) on ``construct``'s own CloudFormation resource only."""
    resource = construct.node.default_child or construct
    cdk.Validations.of(resource).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{PACK}-{rule}", reason=reason))


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag spells ``construct``'s ``Fn::GetAtt Arn`` in a finding id."""
    resource = construct.node.default_child
    assert isinstance(resource, cdk.CfnElement)
    return f"<{cdk.Stack.of(resource).get_logical_id(resource)}.Arn>"


def account_arn(service: str, resource: str) -> str:
    """How cdk-nag spells ``Stack.format_arn`` (partition, region and account pseudo parameters)."""
    return f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"


# How cdk-nag spells the pseudo parameters of an ARN pattern formatted with these keys.
PSEUDO_PARAMETERS = {"partition": "<AWS::Partition>", "region": "<AWS::Region>", "account": "<AWS::AccountId>"}


def acknowledge_wildcard(grantee: iam.IGrantable, resource: str, reason: str) -> None:
    """Acknowledge one wildcard resource (an IAM5 finding) in the default policy of ``grantee``'s role."""
    role = grantee.grant_principal
    assert isinstance(role, iam.Role), f"{grantee} has no role of its own"
    acknowledge(role.node.find_child("DefaultPolicy"), f"IAM5[Resource::{resource}]", reason)
