"""Requeue batches (docs/architecture.md): the starter on the table stream and the state machine that runs them.

A new batch item on the stream starts one execution named after the batch. The execution loops ``Page`` (one
page of the batch; retried with backoff) and ``Throttle`` (a ``Wait`` for the seconds the page's partner
reservation asks), then ``Finish`` (status and locks) and ``Announce`` (``requeue_batch.completed`` to the bus
and the webhooks). Any error the retries do not cure goes to ``FinishFailed``, which ends the batch ``failed``
and releases its locks, so nothing is left running; an announcement that keeps failing is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.data import BATCH_GET_ITEM, DELETE_ITEM, GET_ITEM, QUERY, UPDATE_ITEM, Data
from infra.functions import PythonFunctions
from infra.parameters import config_prefix, grant_config_read, grant_secrets_read, stage_parameters
from infra.state_machines import RETRY_BACKOFF_RATE, RETRY_ERRORS, lambda_task, logged_state_machine
from infra.worker import (
    ALARM_PERIOD,
    StreamWorker,
    acknowledge_dead_letter_queue,
    alarm_at_least_once,
    dead_letter_alarm,
    dead_letter_queue,
)
from shared import schema
from shared.batches.models import BatchStatus
from shared.batches.throttle import THROTTLE_NAME
from shared.settings import BatchAnnouncerSettings, BatchRunnerSettings, BatchStarterSettings

# 100,000 jobs at 1 job per second is about 28 hours; a batch still running after this is timed out (alarmed).
EXECUTION_TIMEOUT = cdk.Duration.days(3)
ANNOUNCE_RETRY_INTERVAL = cdk.Duration.seconds(30)
ANNOUNCE_MAX_ATTEMPTS = 6  # about 30 minutes of retries before the event is dead-lettered

# The starter's stream filter: a batch item inserted (its workspace members and locks never start anything).
BATCH_CREATED_PATTERNS: tuple[dict[str, Any], ...] = (
    {
        "eventName": ["INSERT"],
        "dynamodb": {
            "NewImage": {
                "entity": {"S": [schema.Entity.REQUEUE_BATCH]},
                schema.SORT_KEY: {"S": [schema.requeue_batch_key("x")[schema.SORT_KEY]]},
            }
        },
    },
)


def _partition_pattern(key: dict[str, str]) -> str:
    """``BATCH#*`` from a key helper's partition (``BATCH#x``): what ``dynamodb:LeadingKeys`` conditions match."""
    return key[schema.PARTITION_KEY].rsplit("#", 1)[0] + "#*"


BATCHES = _partition_pattern(schema.requeue_batch_key("x"))
JOBS = _partition_pattern(schema.job_key("x"))
THROTTLES = _partition_pattern(schema.throttle_key(THROTTLE_NAME, "x"))
SOURCE_CALLS = schema.source_call_key("*", "*")[schema.PARTITION_KEY]
LOCKS = _partition_pattern(schema.requeue_lock_key("x"))
WORKSPACES = _partition_pattern(schema.tenant_key(schema.Entity.WORKSPACE, "x"))


def grant_items(grantee: iam.IGrantable, data: Data, actions: Sequence[str], partitions: Sequence[str]) -> None:
    """Allow ``actions`` on the table's items whose partition key matches one of ``partitions`` only."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(actions),
            resources=[data.table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(partitions)}},
        )
    )


class RequeueBatches(Construct):
    """The batch functions, each with only its own rights, the state machine, the starter's mapping and alarms."""

    def __init__(
        self, scope: Construct, construct_id: str, *, functions: PythonFunctions, event_bus: events.IEventBus
    ) -> None:
        super().__init__(scope, construct_id)
        data = functions.data
        runner_values = {"config_prefix": config_prefix(self)}

        self.page = functions.add(
            "BatchPage",
            handler="functions.batches.tasks.page_handler",
            description="Runs one page of a requeue batch",
            settings=BatchRunnerSettings,
            values=runner_values,
            service="requeue-batches",
            index_actions=[QUERY],
            indexes=[schema.BY_WORKSPACE_STATUS],
            timeout=cdk.Duration.seconds(120),
        )
        grant_items(self.page, data, [BATCH_GET_ITEM, GET_ITEM], [BATCHES, THROTTLES, JOBS, SOURCE_CALLS])
        grant_items(self.page, data, [UPDATE_ITEM], [BATCHES, THROTTLES, JOBS])
        grant_config_read(self.page, self)
        data.grant_config_documents(self.page, write=False)  # heads: filters as they are when the batch began

        self.finish = functions.add(
            "BatchFinish",
            handler="functions.batches.tasks.finish_handler",
            description="Ends a requeue batch and releases its workspaces",
            settings=BatchRunnerSettings,
            values=runner_values,
            service="requeue-batches",
            timeout=cdk.Duration.seconds(60),
        )
        grant_items(self.finish, data, [UPDATE_ITEM], [BATCHES])
        grant_items(self.finish, data, [DELETE_ITEM], [LOCKS])

        self.announce = functions.add(
            "BatchAnnounce",
            handler="functions.batches.tasks.announce_handler",
            description="Sends requeue_batch.completed to the event bus and the workspaces' webhooks",
            settings=BatchAnnouncerSettings,
            values={**runner_values, "event_bus_name": event_bus.event_bus_name},
            service="requeue-batches",
            timeout=cdk.Duration.seconds(300),
        )
        grant_items(self.announce, data, [GET_ITEM], [WORKSPACES])
        grant_config_read(self.announce, self)
        data.grant_config_documents(self.announce, write=False)
        grant_secrets_read(
            self.announce,
            self,
            stage_parameters(self).webhook_secrets,
            "Webhook signing secrets are one SecureString parameter per webhook",
        )
        event_bus.grant_put_events_to(self.announce)

        self.dead_letter_queue = dead_letter_queue(self, "AnnounceDeadLetterQueue")
        acknowledge_dead_letter_queue(self.dead_letter_queue)
        self.state_machine = self._state_machine()

        self.starter = functions.add(
            "BatchStarter",
            handler="functions.batches.starter.lambda_handler",
            description="Starts one state machine execution per new requeue batch",
            settings=BatchStarterSettings,
            values={"state_machine_arn": self.state_machine.state_machine_arn},
            service="requeue-batches",
            timeout=cdk.Duration.seconds(30),
        )
        self.state_machine.grant_start_execution(self.starter)
        self.stream_starter = StreamWorker(
            self,
            "StreamStarter",
            worker=self.starter,
            table=data.table,
            patterns=BATCH_CREATED_PATTERNS,
            what="requeue batch starter",
            record="A new requeue batch's stream record",
        )
        self._add_alarms()

    def _state_machine(self) -> sfn.StateMachine:
        any_error = [sfn.Errors.ALL]  # every error is retried with backoff before it goes to FinishFailed
        finish_failed = lambda_task(
            self,
            "FinishFailed",
            self.finish,
            payload={"batch_id": sfn.JsonPath.string_at("$.batch_id"), "outcome": BatchStatus.FAILED.value},
            result_path="$.event",
            retry_errors=any_error,
        )
        page = lambda_task(self, "Page", self.page, result_path="$", retry_errors=any_error, on_error=finish_failed)
        finish = lambda_task(
            self,
            "Finish",
            self.finish,
            payload={"batch_id": sfn.JsonPath.string_at("$.batch_id"), "outcome": sfn.JsonPath.string_at("$.outcome")},
            result_path="$.event",
            retry_errors=any_error,
            on_error=finish_failed,
        )
        announce = tasks.LambdaInvoke(
            self,
            "Announce",
            lambda_function=self.announce,
            input_path="$.event",  # the function's event is the completion event; the state is kept as it was
            payload_response_only=True,
            result_path=sfn.JsonPath.DISCARD,
            retry_on_service_exceptions=False,
        )
        announce.add_retry(
            errors=list(RETRY_ERRORS),  # the Lambda service's and the publisher's TransientStageError
            interval=ANNOUNCE_RETRY_INTERVAL,
            backoff_rate=RETRY_BACKOFF_RATE,
            max_attempts=ANNOUNCE_MAX_ATTEMPTS,
        )
        dead_letter = tasks.SqsSendMessage(
            self,
            "DeadLetterAnnouncement",
            queue=self.dead_letter_queue,
            message_body=sfn.TaskInput.from_object(
                {"event": sfn.JsonPath.object_at("$.event"), "error": sfn.JsonPath.object_at("$.error")}
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        announce.add_catch(dead_letter, errors=[sfn.Errors.ALL], result_path="$.error")
        ended = (
            sfn.Choice(self, "Ended?")
            .when(
                sfn.Condition.string_equals("$.event.status", BatchStatus.FAILED.value),
                sfn.Fail(self, "BatchFailed", error="RequeueBatchFailed", cause="The batch ended failed"),
            )
            .otherwise(sfn.Succeed(self, "BatchEnded"))
        )
        announce.next(ended)
        dead_letter.next(ended)
        finish.next(announce)
        finish_failed.next(announce)
        throttle = sfn.Wait(self, "Throttle", time=sfn.WaitTime.seconds_path("$.wait_seconds"))
        done = sfn.Choice(self, "Done?").when(sfn.Condition.boolean_equals("$.done", True), finish)
        done.otherwise(throttle.next(page))

        machine, self.log_group = logged_state_machine(
            self,
            comment="Gensail requeue batches (docs/architecture.md)",
            definition=page.next(done),
            timeout=EXECUTION_TIMEOUT,
            functions=(self.page, self.finish, self.announce),
            functions_named="its three batch functions",
        )
        return machine

    def _add_alarms(self) -> None:
        self.dead_letter_alarm = dead_letter_alarm(
            self, "AnnounceDeadLetterAlarm", self.dead_letter_queue, "A requeue_batch.completed announcement"
        )
        self.failed_alarm = alarm_at_least_once(
            self,
            "FailedAlarm",
            self.state_machine.metric_failed(period=ALARM_PERIOD, statistic="Sum"),
            "A requeue batch ended failed (or its FinishFailed task failed)",
        )
        self.timed_out_alarm = alarm_at_least_once(
            self,
            "TimedOutAlarm",
            self.state_machine.metric_timed_out(period=ALARM_PERIOD, statistic="Sum"),
            "A requeue batch execution timed out: the batch may still show running and hold its workspaces' locks",
        )
