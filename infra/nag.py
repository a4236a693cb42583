"""cdk-nag on every synth: the AwsSolutions pack as a validation plugin, and each acknowledged finding.

A finding that is not acknowledged here makes synth fail. Each acknowledgment names one rule on the one
CloudFormation resource it was found on, with the reason it is acceptable for this design.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.stack import GensailStack

PACK = "AwsSolutions"


def enable_nag(app: cdk.App) -> None:
    """Run the AwsSolutions checks when ``app`` synthesizes; any unacknowledged finding fails synthesis."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``APIG2``) on ``construct``'s own CloudFormation resource only."""
    resource = construct.node.default_child or construct
    cdk.Validations.of(resource).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{PACK}-{rule}", reason=reason))


def acknowledge_findings(stack: GensailStack) -> None:
    """The findings this design accepts, each with its reason."""
    rest_api = stack.api.rest_api
    stage = rest_api.deployment_stage

    acknowledge(
        stack.cursor_secret,
        "SMG4",
        "The secret only signs opaque pagination cursors. Rotation would need a rotation function and would "
        "only invalidate cursors in flight; it is rotated by hand (new value) if it leaks, and the API picks "
        "the new value up within its one-hour cache.",
    )
    acknowledge(
        rest_api,
        "APIG2",
        "Requests are validated in the API function (Powertools enable_validation, the same models that "
        "generate docs/openapi.json), which answers with the 400 problem+json bodies the API contract "
        "requires; an API Gateway request validator would answer first with a different error shape.",
    )
    acknowledge(
        stage,
        "APIG6",
        "Execution logging needs the account-wide API Gateway CloudWatch role (AWS::ApiGateway::Account), a "
        "per-account singleton this stack must not own or overwrite. Every request is logged by this "
        "stage's JSON access log, and the functions log each request through Powertools.",
    )
    acknowledge(
        stage,
        "APIG3",
        "No web ACL: every route except the OpenAPI document needs an API key, and the stage throttles "
        "every method (rate and burst limits, 429 beyond). A WAF is not asked for yet.",
    )
    for method in stack.api.authorized_methods:
        acknowledge(
            method,
            "COG4",
            "Callers are systems holding Gensail API keys (Authorization: Bearer gsk_...) scoped to a partner, "
            "organization or workspace; the REQUEST authorizer resolves them. There are no Cognito users.",
        )
    for method in stack.api.public_methods:
        acknowledge(method, "COG4", "A public route (security: [] in the API code): no authorizer applies.")
        acknowledge(
            method,
            "APIG4",
            "Public by design (security: [] in the API code): it serves the OpenAPI document so clients can "
            "discover the API before they hold a key; it reads no data.",
        )
