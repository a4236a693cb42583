"""checkov's findings this design accepts, each with its reason: the one place they are acknowledged.

``make scan`` runs checkov (pinned in ``requirements-scan.txt``, its own virtualenv) on every synthesized
template and fails on any finding not acknowledged here. Each acknowledgment names a check and the resource
types it applies to; ``acknowledge_checkov_findings`` writes it into those resources' template metadata
(``Metadata.checkov.skip``, checkov's own suppression format), so checkov reports it as skipped, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
import jsii
from constructs import IConstruct

LAMBDA = "AWS::Lambda::Function"


@dataclass(frozen=True)
class Acknowledgment:
    check: str
    resource_types: frozenset[str]
    reason: str
    where: str | None = None  # only resources whose construct path contains this

    def applies_to(self, resource: cdk.CfnResource) -> bool:
        return resource.cfn_resource_type in self.resource_types and (
            self.where is None or self.where in resource.node.path
        )


ACKNOWLEDGMENTS = (
    Acknowledgment(
        "CKV_AWS_115",
        frozenset({LAMBDA}),
        "No reserved concurrency: it would carve a fixed share out of the account's pool for every function. The "
        "one fan-out, the workspace poller, is bounded by its queue mapping's maximum concurrency instead.",
    ),
    Acknowledgment(
        "CKV_AWS_116",
        frozenset({LAMBDA}),
        "A function-level DLQ only applies to asynchronous invocations. The two scheduled functions send failed "
        "invocations to their dead-letter queues through an asynchronous invoke config (on-failure destination, "
        "which checkov does not read); every other function is invoked synchronously (API Gateway, Step "
        "Functions, event source mappings with their own on-failure queues).",
    ),
    Acknowledgment(
        "CKV_AWS_117",
        frozenset({LAMBDA}),
        "The functions reach only AWS service endpoints and CallRail's public API; there is no VPC resource to "
        "reach, and a VPC would add NAT gateways (cost, a failure point) for no isolation gain.",
    ),
    Acknowledgment(
        "CKV_AWS_173",
        frozenset({LAMBDA}),
        "Environment variables hold only resource names, ARNs and settings, never secrets (those are read from "
        "Secrets Manager and SSM SecureStrings at run time); Lambda encrypts them at rest with its own key.",
    ),
    Acknowledgment(
        "CKV_AWS_158",
        frozenset({"AWS::Logs::LogGroup"}),
        "Logs carry job ids, statuses and request metadata, never keys, secrets or transcripts; CloudWatch Logs "
        "encrypts every log group at rest with its service key, and a customer key would add a key policy per "
        "log group for no change in who may read them (IAM already decides that).",
    ),
    Acknowledgment(
        "CKV_AWS_149",
        frozenset({"AWS::SecretsManager::Secret"}),
        "The secret only signs pagination cursors; the AWS managed key of Secrets Manager encrypts it and only "
        "the API function's role may read it. A customer key would add cost and a key policy, no protection.",
    ),
    Acknowledgment(
        "CKV_AWS_27",
        frozenset({"AWS::SQS::Queue"}),
        "Every queue is encrypted with SQS-managed server-side encryption (SqsManagedSseEnabled), which this "
        "check does not recognise (it only looks for a KMS key), and denies any request without TLS.",
    ),
    Acknowledgment(
        "CKV_AWS_21",
        frozenset({"AWS::S3::Bucket"}),
        "Not versioned: every artifact is derived from the job's recording and rewritten under the same key by "
        "an idempotent stage retry, and recordings and transcripts must really be gone when they expire; access "
        "logs expire after 90 days. Old versions would keep what the retention period is meant to remove.",
    ),
    Acknowledgment(
        "CKV_AWS_18",
        frozenset({"AWS::S3::Bucket"}),
        "Only the access log bucket itself has no access logging: a log bucket that logs to itself loops, and a "
        "third bucket would only log the log deliveries. The artifacts bucket logs to it.",
        where="/Artifacts/AccessLogs/",
    ),
    Acknowledgment(
        "CKV_AWS_120",
        frozenset({"AWS::ApiGateway::Stage"}),
        "No stage cache: every response depends on the caller's API key and on job state that a requeue "
        "changes at once; a cache would serve stale or another key's answers. The authorizer result is cached.",
    ),
    Acknowledgment(
        "CKV_AWS_73",
        frozenset({"AWS::ApiGateway::Stage"}),
        "X-Ray tracing is off for the whole app (functions and state machine too): requests are followed "
        "through the JSON access log and Powertools' structured logs keyed by request and job id.",
    ),
    Acknowledgment(
        "CKV_AWS_59",
        frozenset({"AWS::ApiGateway::Method"}),
        "Only the public OpenAPI document (security: [] in the API code) has no authorizer: clients read it "
        "before they hold a key, and it reads no data. Every other method goes through the API-key authorizer.",
        where="/openapi.json/",
    ),
    Acknowledgment(
        "CKV_AWS_59",
        frozenset({"AWS::ApiGateway::Method"}),
        "The ANY method of a path is a mock that answers 405 with Allow to a method the path has no route for "
        "(infra.api): it reaches no function or data, so there is nothing behind it to authorize.",
        where="/ANY/",
    ),
)


@jsii.implements(cdk.IAspect)
class _Acknowledge:
    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, cdk.CfnResource):
            return
        skips = [
            {"id": acknowledgment.check, "comment": acknowledgment.reason}
            for acknowledgment in ACKNOWLEDGMENTS
            if acknowledgment.applies_to(node)
        ]
        if skips:
            node.add_metadata("checkov", {"skip": skips})


def acknowledge_checkov_findings(scope: IConstruct) -> None:
    """Write the acknowledgments into the metadata of every matching resource under ``scope``."""
    cdk.Aspects.of(scope).add(_Acknowledge())
