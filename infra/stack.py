"""``GensailStack``: one stage of the platform, composed from constructs that own their functions and grants.

Read top to bottom, it is the table of contents: the table, the API, the pipeline, its intake, CallRail
ingestion, alarms and outputs. Each part is built (with its grants and cdk-nag acknowledgements) in its module.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from constructs import Construct

from infra.api import JobsApi
from infra.api_functions import add_api_functions
from infra.batches import RequeueBatches
from infra.data import Data
from infra.functions import PythonFunctions
from infra.ingestion import add_ingestion, poll_interval
from infra.intake import add_intake
from infra.monitoring import AlarmNotifications, api_server_errors_alarm, pipeline_timeouts_alarm
from infra.naming import OUTPUT_API_URL, OUTPUT_CONFIG_PREFIX, OUTPUT_TABLE_NAME
from infra.openapi import load_openapi
from infra.operations import Operations
from infra.outputs import add_outputs
from infra.pipeline import Pipeline
from infra.stage import Stage
from infra.stage_functions import EXPIRING, add_stage_functions
from infra.storage import Artifacts
from infra.waf import add_firewall
from infra.worker import errors_alarm


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

        # The jobs table and the factory every function comes from (code, layer, role, logs, table grants).
        self.data = Data(self, "Data")
        self.functions = PythonFunctions(self, "Functions", data=self.data)

        # The public API: the authorizer and API functions behind the REST API built from the OpenAPI document.
        api_functions = add_api_functions(self, self.functions)
        self.authorizer_function = api_functions.authorizer
        self.api_function = api_functions.api
        self.cursor_secret = api_functions.cursor_secret
        self.api = JobsApi(
            self, "Api", handler=self.api_function, authorizer_handler=self.authorizer_function, openapi=load_openapi()
        )
        self.firewall = add_firewall(self, "Firewall", stage=self.api.rest_api.deployment_stage)

        # The pipeline (docs/pipeline.md): artifacts, job events, the stage functions and the state machine.
        self.artifacts = Artifacts(self, "Artifacts", expiring=EXPIRING)
        self.event_bus = events.EventBus(self, "JobEvents", event_bus_name=stage.event_bus_name)
        self.stages = add_stage_functions(self, self.functions, artifacts=self.artifacts, event_bus=self.event_bus)
        self.pipeline = Pipeline(self, "Pipeline", stages=self.stages)

        # Its intake: the worker on the table stream and the reconciler on a schedule.
        intake = add_intake(self, self.functions, state_machine=self.pipeline.state_machine)
        self.worker_function = intake.worker
        self.reconciler_function = intake.reconciler
        self.stream_worker = intake.stream_worker
        self.reconcile_schedule = intake.reconcile_schedule

        # Requeue batches (docs/architecture.md): the starter on the table stream and the batch state machine.
        self.requeue_batches = RequeueBatches(
            self, "RequeueBatches", functions=self.functions, event_bus=self.event_bus
        )

        # CallRail ingestion (docs/ingestion.md): the dispatcher on a schedule, the poller on the poll queue.
        ingestion = add_ingestion(self, self.functions)
        self.poller_function = ingestion.poller
        self.dispatcher_function = ingestion.dispatcher
        self.poll_queue = ingestion.poll_queue
        self.poll_schedule = ingestion.poll_schedule

        self._add_alarms()
        self._add_outputs()

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

    def _add_outputs(self) -> None:
        add_outputs(
            self,
            {
                OUTPUT_API_URL: self.api.rest_api.url,
                OUTPUT_TABLE_NAME: self.data.table.table_name,
                OUTPUT_CONFIG_PREFIX: self.parameters.config,
                "SecretsParameterPrefix": self.parameters.secrets,
                "StageName": self.stage.name,
                "DashboardName": self.stage.dashboard_name,
                "CursorSecretArn": self.cursor_secret.secret_arn,
                "StateMachineArn": self.pipeline.state_machine.state_machine_arn,
                "ArtifactsBucketName": self.artifacts.bucket.bucket_name,
                "EventBusName": self.event_bus.event_bus_name,
                "AlarmTopicArn": self.alarm_notifications.topic.topic_arn,
                "WorkerDeadLetterQueueUrl": self.stream_worker.dead_letter_queue.queue_url,
                "PollQueueUrl": self.poll_queue.queue.queue_url,
                "ReconcileDeadLetterQueueUrl": self.reconcile_schedule.dead_letter_queue.queue_url,
                "PollDispatchDeadLetterQueueUrl": self.poll_schedule.dead_letter_queue.queue_url,
                "PollDeadLetterQueueUrl": self.poll_queue.dead_letter_queue.queue_url,
                "RequeueBatchStateMachineArn": self.requeue_batches.state_machine.state_machine_arn,
                "RequeueBatchStartDeadLetterQueueUrl": self.requeue_batches.stream_starter.dead_letter_queue.queue_url,
                "RequeueBatchAnnounceDeadLetterQueueUrl": self.requeue_batches.dead_letter_queue.queue_url,
            },
        )
