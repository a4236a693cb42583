"""cdk-nag on every synth: the AwsSolutions pack as a validation plugin, and each acknowledged finding.

A finding that is not acknowledged here makes synth fail. Each acknowledgment names one rule on the one
CloudFormation resource it was found on, with the reason it is acceptable for this design.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.account import PUSH_TO_CLOUDWATCH_LOGS, ApiGatewayAccountStack
from infra.stack import (
    ANALYSES,
    FOUNDATION_MODELS,
    INFERENCE_PROFILES,
    RECORDINGS,
    RESULTS,
    TRANSCRIBE_OUTPUT,
    TRANSCRIPTS,
    GensailStack,
)

PACK = "AwsSolutions"


def enable_nag(app: cdk.App) -> None:
    """Run the AwsSolutions checks when ``app`` synthesizes; any unacknowledged finding fails synthesis."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``APIG2``) on ``construct``'s own CloudFormation resource only."""
    resource = construct.node.default_child or construct
    cdk.Validations.of(resource).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{PACK}-{rule}", reason=reason))


def _arn_of(construct: IConstruct) -> str:
    """How cdk-nag spells ``construct``'s ``Fn::GetAtt Arn`` in a finding id."""
    resource = construct.node.default_child
    assert isinstance(resource, cdk.CfnElement)
    return f"<{cdk.Stack.of(resource).get_logical_id(resource)}.Arn>"


def _account_arn(service: str, resource: str) -> str:
    """How cdk-nag spells ``Stack.format_arn`` (partition, region and account pseudo parameters)."""
    return f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"


def acknowledge_wildcard(role_owner: lambda_.IFunction | sfn.StateMachine, resource: str, reason: str) -> None:
    """Acknowledge one wildcard resource (an IAM5 finding) in the default policy of a function's role."""
    role = role_owner.role
    assert role is not None
    acknowledge(role.node.find_child("DefaultPolicy"), f"IAM5[Resource::{resource}]", reason)


_PER_JOB_OBJECTS = (
    "Artifacts are one object per job, under a key built by shared.pipeline.artifacts (or Transcribe's output "
    "key); job ids are only known at run time, so the grant is this stage's key pattern in this one bucket."
)


def acknowledge_findings(stack: GensailStack) -> None:
    """The findings this design accepts, each with its reason."""
    _acknowledge_pipeline(stack)
    _acknowledge_ingestion(stack)
    acknowledge_wildcard(
        stack.api_function,
        _account_arn("ssm", f"parameter{stack.parameters.config}/*"),
        "The config routes read and write one SSM parameter per tenant level (partner, organization, workspace) "
        "and tenant ids are only known at run time; the grant covers the config path only.",
    )
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
        "Execution logging is left off: API Gateway writes it to a log group of its own naming that no stack "
        "owns (no retention, left behind when a stage is deleted). Every request is in this stage's JSON access "
        "log, without the key, and the functions log each request through Powertools.",
    )
    if stack.firewall is None:
        acknowledge(
            stage,
            "APIG3",
            "No web ACL in this stage (deploy with -c waf=true for AWS managed rules and a per-key rate limit): "
            "every route except the OpenAPI document needs an API key, and the stage throttles every method.",
        )
    for method in stack.api.authorized_methods:
        acknowledge(
            method,
            "COG4",
            "Callers are systems holding Gensail API keys (Authorization: Bearer gsk_...) scoped to a partner, "
            "organization or workspace; the REQUEST authorizer resolves them. There are no Cognito users.",
        )
    for method in stack.api.method_not_allowed_methods:
        acknowledge(method, "COG4", "A mock answering 405 to methods the path has no route for: nothing to authorize.")
        acknowledge(
            method,
            "APIG4",
            "A mock integration that only answers 405 with Allow for a wrong method; it reaches no function or data.",
        )
    for method in stack.api.public_methods:
        acknowledge(method, "COG4", "A public route (security: [] in the API code): no authorizer applies.")
        acknowledge(
            method,
            "APIG4",
            "Public by design (security: [] in the API code): it serves the OpenAPI document so clients can "
            "discover the API before they hold a key; it reads no data.",
        )


def acknowledge_account_findings(stack: ApiGatewayAccountStack) -> None:
    """The account stack's one role uses the AWS managed policy written for it."""
    acknowledge(
        stack.role,
        f"IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{PUSH_TO_CLOUDWATCH_LOGS}]",
        "AmazonAPIGatewayPushToCloudWatchLogs is AWS's policy for API Gateway's account-level logging role, "
        "the documented way to set it up; AWS keeps it in step with what API Gateway writes.",
    )


def _acknowledge_pipeline(stack: GensailStack) -> None:
    """The worker, the reconciler, the stage functions and the state machine."""
    stages = stack.stages
    bucket = _arn_of(stack.artifacts.bucket)
    objects = {
        stages.start_transcription: (RECORDINGS, TRANSCRIPTS, TRANSCRIBE_OUTPUT),
        stages.check_transcription: (TRANSCRIBE_OUTPUT, TRANSCRIPTS),
        stages.analyze: (TRANSCRIPTS, ANALYSES),
        stages.publish: (TRANSCRIPTS, ANALYSES, RESULTS),
    }
    for function, patterns in objects.items():
        for pattern in patterns:
            acknowledge_wildcard(function, f"{bucket}/{pattern}", _PER_JOB_OBJECTS)
    for function in (stages.start_transcription, stages.check_transcription):
        acknowledge_wildcard(
            function,
            "*",
            "Amazon Transcribe's transcription job actions support no resource-level permissions (the Service "
            "Authorization Reference lists no resource type), so '*' is the only resource; the statement allows "
            "only the one Transcribe action this stage calls.",
        )
    bedrock = (
        "The Bedrock model is chosen per workspace in the config hierarchy (analysis.bedrock_model_id) at run "
        "time and is invoked through a cross-region inference profile, which routes to the foundation model in "
        "any region of its geography; so the grant is InvokeModel on this account's and region's inference "
        "profiles and on foundation models; no other Bedrock action or resource type."
    )
    pseudo = {"partition": "<AWS::Partition>", "region": "<AWS::Region>", "account": "<AWS::AccountId>"}
    acknowledge_wildcard(stages.analyze, FOUNDATION_MODELS.format(**pseudo), bedrock)
    acknowledge_wildcard(stages.analyze, INFERENCE_PROFILES.format(**pseudo), bedrock)
    paths = stack.parameters
    _acknowledge_config_read(paths.config, stack.worker_function, stack.reconciler_function, *stages.all())
    _acknowledge_secrets_read(
        stages.publish, "Webhook signing secrets are one SecureString parameter per webhook", paths.webhook_secrets
    )
    _acknowledge_secrets_read(
        stages.start_transcription,
        "CallRail API keys (needed to fetch recordings) are one SecureString per account",
        paths.callrail_keys,
    )

    state_machine = stack.pipeline.state_machine
    for function in stages.all():
        acknowledge_wildcard(
            state_machine,
            f"{_arn_of(function)}:*",
            "Added by the Step Functions Lambda task: the function's own versions and aliases (qualified ARNs), "
            "so the state machine still invokes only its five stage functions.",
        )
    acknowledge_wildcard(
        state_machine,
        "*",
        "Step Functions logging to CloudWatch Logs needs the log delivery actions (logs:CreateLogDelivery, "
        "logs:PutResourcePolicy and friends), which support no resource-level permissions.",
    )
    acknowledge(
        state_machine,
        "SF2",
        "X-Ray tracing is off for the whole app (the functions too): each stage logs the job id through "
        "Powertools and every state transition is in the state machine's log group, which is enough to follow "
        "a job; tracing can be switched on when there is a trace consumer.",
    )
    for queue in (
        stack.stream_worker.dead_letter_queue,
        stack.reconcile_schedule.dead_letter_queue,
        stack.poll_schedule.dead_letter_queue,
    ):
        acknowledge(
            queue,
            "SQS3",
            "This queue is itself a dead-letter queue (the stream mapping's on-failure destination or a schedule "
            "target's DLQ); an alarm fires on its first message and nothing consumes it automatically.",
        )


def _acknowledge_config_read(config_prefix: str, *functions: lambda_.IFunction) -> None:
    for function in functions:
        acknowledge_wildcard(
            function,
            _account_arn("ssm", f"parameter{config_prefix}/*"),
            "The config hierarchy is one SSM parameter per tenant level (platform, partner, organization, "
            "workspace) and tenant ids are only known at run time; the grant covers the config path only.",
        )


def _acknowledge_secrets_read(reader: lambda_.IFunction, secrets: str, prefix: str) -> None:
    """The two wildcards of ``grant_secrets_read``: the secrets folder ``prefix`` and the key that encrypts it."""
    acknowledge_wildcard(
        reader,
        _account_arn("ssm", f"parameter{prefix}/*"),
        f"{secrets}, named at run time by the config; the grant is GetParameter on {prefix} only.",
    )
    acknowledge_wildcard(
        reader,
        _account_arn("kms", "key/*"),
        f"Decrypts SecureString values under {prefix}: the key id of the account's aws/ssm key is not "
        "known at synth time, so any key of this account, but only through SSM (kms:ViaService) and only for "
        f"parameters under {prefix} (kms:EncryptionContext:PARAMETER_ARN).",
    )


def _acknowledge_ingestion(stack: GensailStack) -> None:
    """The dispatcher and the workspace poller read the config; the poller reads the CallRail API keys."""
    _acknowledge_config_read(stack.parameters.config, stack.dispatcher_function, stack.poller_function)
    _acknowledge_secrets_read(
        stack.poller_function,
        "CallRail API keys are one SecureString per account (integrations.callrail.api_key_parameter)",
        stack.parameters.callrail_keys,
    )
