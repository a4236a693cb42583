"""The pipeline's five stage functions, each allowed only what its stage does (docs/pipeline.md)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.data import GET_ITEM, UPDATE_ITEM
from infra.functions import PythonFunctions
from infra.nag import PSEUDO_PARAMETERS, acknowledge_wildcard
from infra.parameters import config_prefix, grant_config_read, grant_secrets_read, stage_parameters
from infra.pipeline import StageFunctions
from infra.storage import Artifacts
from shared.adapters.transcribe import AwsTranscribe
from shared.pipeline.artifacts import analysis_key, recording_key, result_key, transcript_key
from shared.settings import StageSettings

# Bedrock models are invoked through cross-region inference profiles (``us.``, ``eu.``, ``global.`` model ids):
# the caller needs the profile of its own account and region and the foundation models it routes to, in any
# region (a global profile's models have no region in their ARN, which "*" also matches).
FOUNDATION_MODELS = "arn:{partition}:bedrock:*::foundation-model/*"
INFERENCE_PROFILES = "arn:{partition}:bedrock:{region}:{account}:inference-profile/*"

# The artifacts each stage reads and writes, as key patterns built by the same functions the stages use.
_ANY_JOB = "*"
RECORDINGS = recording_key(_ANY_JOB)
TRANSCRIPTS = transcript_key(_ANY_JOB)
TRANSCRIBE_OUTPUT = AwsTranscribe.output_key(_ANY_JOB)
ANALYSES = analysis_key(_ANY_JOB)
RESULTS = result_key(_ANY_JOB)
# The objects that hold call content and expire after the retention period.
EXPIRING = (RECORDINGS, TRANSCRIPTS, TRANSCRIBE_OUTPUT, RESULTS)


def add_stage_functions(
    scope: Construct, functions: PythonFunctions, *, artifacts: Artifacts, event_bus: events.EventBus
) -> StageFunctions:
    """One function per Task, each with only the artifacts, secrets and services its stage uses."""

    def stage(construct_id: str, handler: str, description: str, timeout_seconds: int) -> lambda_.Function:
        function = functions.add(
            construct_id,
            handler=f"functions.stages.{handler}",
            description=description,
            settings=StageSettings,
            values={
                "config_prefix": config_prefix(scope),
                "artifacts_bucket": artifacts.bucket.bucket_name,
                "event_bus_name": event_bus.event_bus_name,
            },
            service="pipeline",
            item_actions=[GET_ITEM, UPDATE_ITEM],
            timeout=cdk.Duration.seconds(timeout_seconds),
        )
        grant_config_read(function, scope)
        return function

    parameters = stage_parameters(scope)
    start = stage(
        "StartTranscription", "transcribe.start_handler", "Copies the recording and starts transcription", 120
    )
    # Transcribe reads the media and writes its output with the caller's rights.
    artifacts.grant_objects(start, read=[RECORDINGS], write=[RECORDINGS, TRANSCRIPTS, TRANSCRIBE_OUTPUT])
    _grant_transcribe(start, "transcribe:StartTranscriptionJob")
    # CallRail serves recordings only with the account's API key, a SecureString under the CallRail keys path.
    grant_secrets_read(
        start,
        scope,
        parameters.callrail_keys,
        "CallRail API keys (needed to fetch recordings) are one SecureString per account",
    )

    check = stage("CheckTranscription", "transcribe.check_handler", "Collects a finished transcript", 30)
    artifacts.grant_objects(check, read=[TRANSCRIBE_OUTPUT], write=[TRANSCRIPTS])
    _grant_transcribe(check, "transcribe:GetTranscriptionJob")

    analyze = stage("Analyze", "analyze.lambda_handler", "Analyzes a job's transcript", 120)
    artifacts.grant_objects(analyze, read=[TRANSCRIPTS], write=[ANALYSES])
    _grant_bedrock(analyze)

    publish = stage("Publish", "publish.lambda_handler", "Publishes a job's result and webhooks", 120)
    artifacts.grant_objects(publish, read=[TRANSCRIPTS, ANALYSES], write=[RESULTS])
    # Webhook signing secrets only: never the CallRail keys (they would open every customer's CallRail account).
    grant_secrets_read(
        publish, scope, parameters.webhook_secrets, "Webhook signing secrets are one SecureString parameter per webhook"
    )
    event_bus.grant_put_events_to(publish)

    # Records the failure on the job and announces it; it touches no artifact.
    mark_failed = stage("MarkFailed", "fail.lambda_handler", "Records a failed job", 30)
    event_bus.grant_put_events_to(mark_failed)

    return StageFunctions(
        start_transcription=start,
        check_transcription=check,
        analyze=analyze,
        publish=publish,
        mark_failed=mark_failed,
    )


def _grant_transcribe(function: lambda_.Function, action: str) -> None:
    # Transcribe's job actions take no resource ARN: "*" is the only resource they accept.
    iam.Grant.add_to_principal(grantee=function, actions=[action], resource_arns=["*"])
    acknowledge_wildcard(
        function,
        "*",
        "Amazon Transcribe's transcription job actions support no resource-level permissions (the Service "
        "Authorization Reference lists no resource type), so '*' is the only resource; the statement allows "
        "only the one Transcribe action this stage calls.",
    )


def _grant_bedrock(function: lambda_.Function) -> None:
    stack = cdk.Stack.of(function)
    iam.Grant.add_to_principal(
        grantee=function,
        actions=["bedrock:InvokeModel"],  # also what Converse needs
        resource_arns=[
            FOUNDATION_MODELS.format(partition=stack.partition),
            INFERENCE_PROFILES.format(partition=stack.partition, region=stack.region, account=stack.account),
        ],
    )
    reason = (
        "The Bedrock model is chosen per workspace in the config hierarchy (analysis.bedrock_model_id) at run "
        "time and is invoked through a cross-region inference profile, which routes to the foundation model in "
        "any region of its geography; so the grant is InvokeModel on this account's and region's inference "
        "profiles and on foundation models; no other Bedrock action or resource type."
    )
    acknowledge_wildcard(function, FOUNDATION_MODELS.format(**PSEUDO_PARAMETERS), reason)
    acknowledge_wildcard(function, INFERENCE_PROFILES.format(**PSEUDO_PARAMETERS), reason)
