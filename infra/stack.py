"""``GensailStack``: the table, the functions, the API, the pipeline and their grants, composed from constructs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.api import JobsApi
from infra.data import Data
from infra.functions import PythonFunctions
from infra.ingestion import CALLRAIL_API_URL, DISPATCHER_TIMEOUT, POLLER_TIMEOUT, PollQueue, poll_interval
from infra.monitoring import AlarmNotifications, api_server_errors_alarm, pipeline_timeouts_alarm
from infra.openapi import load_openapi
from infra.operations import Operations
from infra.outputs import add_outputs
from infra.parameters import grant_config_read, grant_config_write, grant_secrets_read
from infra.pipeline import Pipeline, StageFunctions
from infra.stage import Stage
from infra.storage import Artifacts
from infra.waf import ApiFirewall, wants_waf
from infra.worker import (
    FunctionSchedule,
    ReconcileSchedule,
    StreamWorker,
    errors_alarm,
    reconcile_interval,
    stuck_after,
)
from shared import schema
from shared.adapters.transcribe import AwsTranscribe
from shared.pipeline.artifacts import analysis_key, recording_key, result_key, transcript_key

# Bedrock models are invoked through cross-region inference profiles (``us.``, ``eu.``, ``global.`` model ids):
# the caller needs the profile of its own account and region and the foundation models it routes to, in any
# region (a global profile's models have no region in their ARN, which "*" also matches).
FOUNDATION_MODELS = "arn:{partition}:bedrock:*::foundation-model/*"
INFERENCE_PROFILES = "arn:{partition}:bedrock:{region}:{account}:inference-profile/*"

BATCH_GET_ITEM = "dynamodb:BatchGetItem"
GET_ITEM = "dynamodb:GetItem"
PUT_ITEM = "dynamodb:PutItem"
QUERY = "dynamodb:Query"
UPDATE_ITEM = "dynamodb:UpdateItem"


# The artifacts each stage reads and writes, as key patterns built by the same functions the stages use.
_ANY_JOB = "*"
RECORDINGS = recording_key(_ANY_JOB)
TRANSCRIPTS = transcript_key(_ANY_JOB)
TRANSCRIBE_OUTPUT = AwsTranscribe.output_key(_ANY_JOB)
ANALYSES = analysis_key(_ANY_JOB)
RESULTS = result_key(_ANY_JOB)


class GensailStack(cdk.Stack):
    """The call-processing platform: jobs table, jobs API, API-key authorizer and the processing pipeline."""

    def __init__(self, scope: Construct, stage: Stage, **kwargs: Any) -> None:
        super().__init__(
            scope,
            stage.stack_name,
            stack_name=stage.stack_name,
            description=f"Gensail call processing, stage {stage.name}",
            termination_protection=stage.production,
            **kwargs,
        )
        self.stage = stage  # read by every construct through Stage.of
        self.parameters = stage.parameters
        self.metrics_namespace = stage.metrics_namespace
        stage.tag(self)
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
                "CONFIG_PREFIX": self.parameters.config,
                "POWERTOOLS_SERVICE_NAME": "jobs-api",
                "POWERTOOLS_METRICS_NAMESPACE": self.metrics_namespace,
            },
            item_actions=[GET_ITEM, UPDATE_ITEM],  # listing queries the indexes only
            index_actions=[QUERY],
            memory_size=1024,
        )
        self.cursor_secret.grant_read(self.api_function)
        # The config routes: documents and history in the table (config partitions only), copies in SSM.
        self.data.grant_config_documents(self.api_function)
        grant_config_read(self.api_function, self)
        grant_config_write(self.api_function, self)

        self.api = JobsApi(
            self,
            "Api",
            handler=self.api_function,
            authorizer_handler=self.authorizer_function,
            openapi=load_openapi(),
        )

        self.artifacts = Artifacts(self, "Artifacts", expiring=[RECORDINGS, TRANSCRIPTS, TRANSCRIBE_OUTPUT, RESULTS])
        self.event_bus = events.EventBus(self, "JobEvents", event_bus_name=stage.event_bus_name)
        self.stages = self._add_stage_functions()
        self.pipeline = Pipeline(self, "Pipeline", stages=self.stages)
        self._add_intake()
        self._add_ingestion()
        self._add_alarms()
        self.firewall: ApiFirewall | None = None
        if wants_waf(self):
            self.firewall = ApiFirewall(self, "Firewall", stage=self.api.rest_api.deployment_stage)
        add_outputs(self)

    def _add_alarms(self) -> None:
        """Alarms on what is not watched where it is built, then every alarm in the stack sent to one topic."""
        self.api_errors_alarm = api_server_errors_alarm(self, "ApiServerErrorsAlarm", self.api.rest_api)
        # A failing stage is recorded on its job by MarkFailed; MarkFailed failing, or a timeout, is not.
        self.mark_failed_errors_alarm = errors_alarm(
            self, "MarkFailedErrorsAlarm", self.stages.mark_failed, "pipeline's MarkFailed"
        )
        self.pipeline_timeouts_alarm = pipeline_timeouts_alarm(
            self, "PipelineTimeoutsAlarm", self.pipeline.state_machine
        )
        stages = self.stages
        self.operations = Operations(
            self,
            "Operations",
            state_machine=self.pipeline.state_machine,
            stage_functions={
                "StartTranscription": stages.start_transcription,
                "CheckTranscription": stages.check_transcription,
                "Analyze": stages.analyze,
                "Publish": stages.publish,
            },
            worker=self.worker_function,
            table=self.data.table,
            poll_queue=self.poll_queue.queue,
            poll_interval=poll_interval(self),
            metrics_namespace=self.metrics_namespace,
        )
        self.alarm_notifications = AlarmNotifications(self, "AlarmNotifications")
        self.alarm_notifications.notify_on_every_alarm(self)
        self.operations.show_alarms(self)

    def _add_stage_functions(self) -> StageFunctions:
        """One function per Task, each allowed only what its stage does (docs/pipeline.md)."""

        def stage(construct_id: str, handler: str, description: str, timeout_seconds: int) -> lambda_.Function:
            function = self.add_function(
                construct_id,
                handler=f"functions.stages.{handler}",
                description=description,
                environment={
                    "CONFIG_PREFIX": self.parameters.config,
                    "ARTIFACTS_BUCKET": self.artifacts.bucket.bucket_name,
                    "EVENT_BUS_NAME": self.event_bus.event_bus_name,
                    "POWERTOOLS_SERVICE_NAME": "pipeline",
                    "POWERTOOLS_METRICS_NAMESPACE": self.metrics_namespace,
                },
                item_actions=[GET_ITEM, UPDATE_ITEM],
                timeout=cdk.Duration.seconds(timeout_seconds),
            )
            grant_config_read(function, self)
            return function

        start = stage(
            "StartTranscription", "transcribe.start_handler", "Copies the recording and starts transcription", 120
        )
        # Transcribe reads the media and writes its output with the caller's rights.
        self.artifacts.grant_objects(start, read=[RECORDINGS], write=[RECORDINGS, TRANSCRIPTS, TRANSCRIBE_OUTPUT])
        self._grant_transcribe(start, "transcribe:StartTranscriptionJob")
        # CallRail serves recordings only with the account's API key, a SecureString under the CallRail keys path.
        grant_secrets_read(start, self, self.parameters.callrail_keys)

        check = stage("CheckTranscription", "transcribe.check_handler", "Collects a finished transcript", 30)
        self.artifacts.grant_objects(check, read=[TRANSCRIBE_OUTPUT], write=[TRANSCRIPTS])
        self._grant_transcribe(check, "transcribe:GetTranscriptionJob")

        analyze = stage("Analyze", "analyze.lambda_handler", "Analyzes a job's transcript", 120)
        self.artifacts.grant_objects(analyze, read=[TRANSCRIPTS], write=[ANALYSES])
        iam.Grant.add_to_principal(
            grantee=analyze,
            actions=["bedrock:InvokeModel"],  # also what Converse needs
            resource_arns=[
                FOUNDATION_MODELS.format(partition=self.partition),
                INFERENCE_PROFILES.format(partition=self.partition, region=self.region, account=self.account),
            ],
        )

        publish = stage("Publish", "publish.lambda_handler", "Publishes a job's result and webhooks", 120)
        self.artifacts.grant_objects(publish, read=[TRANSCRIPTS, ANALYSES], write=[RESULTS])
        # Webhook signing secrets only: never the CallRail keys (they would open every customer's CallRail account).
        grant_secrets_read(publish, self, self.parameters.webhook_secrets)
        self.event_bus.grant_put_events_to(publish)

        # Records the failure on the job and announces it; it touches no artifact.
        mark_failed = stage("MarkFailed", "fail.lambda_handler", "Records a failed job", 30)
        self.event_bus.grant_put_events_to(mark_failed)

        return StageFunctions(
            start_transcription=start,
            check_transcription=check,
            analyze=analyze,
            publish=publish,
            mark_failed=mark_failed,
        )

    def _grant_transcribe(self, function: lambda_.IFunction, action: str) -> None:
        # Transcribe's job actions take no resource ARN: "*" is the only resource they accept.
        iam.Grant.add_to_principal(grantee=function, actions=[action], resource_arns=["*"])

    def _add_intake(self) -> None:
        """The worker on the table stream and the reconciler on a schedule: both start executions."""
        intake_environment = {
            "CONFIG_PREFIX": self.parameters.config,
            "STATE_MACHINE_ARN": self.pipeline.state_machine.state_machine_arn,
            "POWERTOOLS_METRICS_NAMESPACE": self.metrics_namespace,
        }
        self.worker_function = self.add_function(
            "Worker",
            handler="functions.worker.handler.lambda_handler",
            description="Checks queued jobs against their filters and starts the pipeline",
            environment={**intake_environment, "POWERTOOLS_SERVICE_NAME": "worker"},
            item_actions=[GET_ITEM, UPDATE_ITEM],
            timeout=cdk.Duration.seconds(60),
        )
        self.reconciler_function = self.add_function(
            "Reconciler",
            handler="functions.reconciler.handler.lambda_handler",
            description="Hands jobs stuck in queued to the worker's intake",
            environment={
                **intake_environment,
                "STUCK_AFTER_SECONDS": str(int(stuck_after(self).to_seconds())),
                "POWERTOOLS_SERVICE_NAME": "reconciler",
            },
            item_actions=[GET_ITEM, UPDATE_ITEM],
            index_actions=[QUERY],
            timeout=cdk.Duration.seconds(120),
        )
        for function in (self.worker_function, self.reconciler_function):
            grant_config_read(function, self)
            self.data.grant_config_documents(function, write=False)  # heads, for requeued jobs
            self.pipeline.state_machine.grant_start_execution(function)
        self.stream_worker = StreamWorker(self, "StreamWorker", worker=self.worker_function, table=self.data.table)
        self.reconcile_schedule = ReconcileSchedule(
            self, "ReconcileSchedule", reconciler=self.reconciler_function, every=reconcile_interval(self)
        )

    def _add_ingestion(self) -> None:
        """CallRail polling (docs/ingestion.md): the dispatcher on a schedule, the poller on the poll queue."""
        ingestion_environment = {
            "CONFIG_PREFIX": self.parameters.config,
            "POWERTOOLS_SERVICE_NAME": "poller",
            "POWERTOOLS_METRICS_NAMESPACE": self.metrics_namespace,
        }
        # Reads the workspace and its cursor (GetItem) and which calls have a dedupe item already (BatchGetItem);
        # one TransactWriteItems puts the job and its dedupe item and updates the day counters (authorized by
        # PutItem and UpdateItem); it moves the cursor with UpdateItem. No Query, Scan or DeleteItem.
        self.poller_function = self.add_function(
            "WorkspacePoller",
            handler="functions.poller.workspace.lambda_handler",
            description="Polls one workspace's CallRail calls into jobs",
            environment={**ingestion_environment, "CALLRAIL_API_URL": CALLRAIL_API_URL},
            item_actions=[GET_ITEM, BATCH_GET_ITEM, PUT_ITEM, UPDATE_ITEM],
            timeout=POLLER_TIMEOUT,
        )
        grant_config_read(self.poller_function, self)
        # The account's CallRail API key is a SecureString under the CallRail keys path (api_key_parameter); the
        # poller may read no other secret (webhook signing secrets are the publish stage's).
        grant_secrets_read(self.poller_function, self, self.parameters.callrail_keys)
        self.poll_queue = PollQueue(self, "Polling", poller=self.poller_function)

        # Lists the workspaces in the tenant registry: a Query on the by_entity index, no item reads.
        self.dispatcher_function = self.add_function(
            "PollDispatcher",
            handler="functions.poller.dispatch.lambda_handler",
            description="Sends one poll message per CallRail-enabled workspace",
            environment={**ingestion_environment, "POLL_QUEUE_URL": self.poll_queue.queue.queue_url},
            index_actions=[QUERY],
            indexes=[schema.BY_ENTITY],
            timeout=DISPATCHER_TIMEOUT,
        )
        grant_config_read(self.dispatcher_function, self)
        self.poll_queue.grant_send(self.dispatcher_function)
        self.poll_schedule = FunctionSchedule(
            self,
            "PollSchedule",
            function=self.dispatcher_function,
            every=poll_interval(self),
            description="Dispatches one CallRail poll per enabled workspace",
            what="poll dispatcher",
        )

    def add_function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        item_actions: Sequence[str] = (),
        index_actions: Sequence[str] = (),
        indexes: Sequence[schema.IndexDefinition] = schema.GLOBAL_INDEXES,
        memory_size: int = 512,
        timeout: cdk.Duration = cdk.Duration.seconds(10),  # noqa: B008 - an immutable value
    ) -> lambda_.Function:
        """A function that knows the table (``TABLE_NAME``) and may call exactly these actions on it.

        ``index_actions`` apply to ``indexes`` (every index unless narrowed).
        """
        function = self.functions.add(
            construct_id,
            handler=handler,
            description=description,
            environment={"TABLE_NAME": self.data.table.table_name, **environment},
            memory_size=memory_size,
            timeout=timeout,
        )
        self.data.grant(function, item_actions=item_actions, index_actions=index_actions, indexes=indexes)
        return function
