"""CallRail ingestion (docs/ingestion.md): the poll queue between the dispatcher and the workspace poller.

The dispatcher runs on a schedule (``FunctionSchedule``, context ``poll_every_minutes``) and sends one message
per enabled workspace to the poll queue; the workspace poller consumes it, one message per invocation. Each
workspace is its own message and its own invocation, so one workspace's slowness or 429 never blocks another,
and a message that fails three times waits in the poll dead-letter queue (alarmed).
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.data import BATCH_GET_ITEM, GET_ITEM, PUT_ITEM, QUERY, UPDATE_ITEM
from infra.functions import PythonFunctions
from infra.parameters import config_prefix, grant_config_read, grant_secrets_read, stage_parameters
from infra.worker import FunctionSchedule, dead_letter_alarm, dead_letter_queue, errors_alarm, minutes_from_context
from shared import schema
from shared.settings import PollerSettings

POLL_CONTEXT_KEY = "poll_every_minutes"
DEFAULT_POLL_MINUTES = 5
DISPATCHER_TIMEOUT = cdk.Duration.minutes(2)  # 1,000 workspaces: registry pages, batched configs, 100 sends
POLLER_TIMEOUT = cdk.Duration.minutes(5)
# SQS's advice for a Lambda consumer: at least six times the function timeout, so retries of a throttled
# invocation never see the message reappear while a poll may still be running.
VISIBILITY_TIMEOUT_FACTOR = 6
# One workspace per invocation: a slow CallRail account (a page can take over a minute with its retries) never
# holds up, or runs out the time of, another workspace's poll.
POLL_BATCH_SIZE = 1
POLL_MAX_RECEIVE_COUNT = 3
# At most this many pollers at once: 1,000 workspaces are 1,000 invocations, 50 rounds, within a 5-minute cycle
# when a poll takes a few seconds, without a burst of concurrent requests to CallRail or taking the account's
# whole Lambda concurrency.
POLL_MAX_CONCURRENCY = 20


def poll_interval(scope: Construct) -> cdk.Duration:
    """The dispatcher's rate from the CDK context (``-c poll_every_minutes=10``), default 5 minutes."""
    return minutes_from_context(scope, POLL_CONTEXT_KEY, DEFAULT_POLL_MINUTES)


def visibility_timeout(function_timeout: cdk.Duration) -> cdk.Duration:
    """The poll queue's visibility timeout for a consumer with this timeout."""
    return cdk.Duration.seconds(function_timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR)


class PollQueue(Construct):
    """The poll queue, its dead-letter queue, the poller's mapping on it and their alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, poller: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        if poller.timeout is None:
            raise ValueError("The workspace poller needs an explicit timeout: the visibility timeout derives from it")
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=visibility_timeout(poller.timeout),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=POLL_MAX_RECEIVE_COUNT, queue=self.dead_letter_queue
            ),
        )
        # Grants the poller ReceiveMessage, DeleteMessage, ChangeMessageVisibility and GetQueueAttributes.
        self.event_source = event_sources.SqsEventSource(
            self.queue,
            batch_size=POLL_BATCH_SIZE,
            report_batch_item_failures=True,
            max_concurrency=POLL_MAX_CONCURRENCY,
        )
        poller.add_event_source(self.event_source)
        self.dead_letter_alarm = dead_letter_alarm(
            self, "DeadLetterAlarm", self.dead_letter_queue, "A workspace poll that failed three times"
        )
        self.errors_alarm = errors_alarm(self, "ErrorsAlarm", poller, "workspace poller")

    def grant_send(self, grantee: iam.IGrantable) -> None:
        """``sqs:SendMessage`` only (it also authorizes ``SendMessageBatch``); the queue is SSE-SQS, no key grant."""
        iam.Grant.add_to_principal(grantee=grantee, actions=["sqs:SendMessage"], resource_arns=[self.queue.queue_arn])


@dataclass(frozen=True)
class Ingestion:
    poller: lambda_.Function
    dispatcher: lambda_.Function
    poll_queue: PollQueue
    poll_schedule: FunctionSchedule


def add_ingestion(scope: Construct, functions: PythonFunctions) -> Ingestion:
    """CallRail polling (docs/ingestion.md): the dispatcher on a schedule, the poller on the poll queue."""
    # The real CallRail API (the settings' default); the local runtime points its copy at the sample server.
    callrail_api_url = PollerSettings.model_fields["callrail_api_url"].default
    # Reads the workspace and its cursor (GetItem) and which calls have a dedupe item already (BatchGetItem);
    # one TransactWriteItems puts the job and its dedupe item and updates the day counters (authorized by
    # PutItem and UpdateItem); it moves the cursor with UpdateItem. No Query, Scan or DeleteItem.
    poller = functions.add(
        "WorkspacePoller",
        handler="functions.poller.workspace.lambda_handler",
        description="Polls one workspace's CallRail calls into jobs",
        settings=PollerSettings,
        values={"config_prefix": config_prefix(scope), "callrail_api_url": callrail_api_url},
        service="poller",
        item_actions=[GET_ITEM, BATCH_GET_ITEM, PUT_ITEM, UPDATE_ITEM],
        timeout=POLLER_TIMEOUT,
    )
    grant_config_read(poller, scope)
    # The account's CallRail API key is a SecureString under the CallRail keys path (api_key_parameter); the
    # poller may read no other secret (webhook signing secrets are the publish stage's).
    grant_secrets_read(
        poller,
        scope,
        stage_parameters(scope).callrail_keys,
        "CallRail API keys are one SecureString per account (integrations.callrail.api_key_parameter)",
    )
    poll_queue = PollQueue(scope, "Polling", poller=poller)

    # Lists the workspaces in the tenant registry: a Query on the by_entity index, no item reads.
    dispatcher = functions.add(
        "PollDispatcher",
        handler="functions.poller.dispatch.lambda_handler",
        description="Sends one poll message per CallRail-enabled workspace",
        settings=PollerSettings,
        values={"config_prefix": config_prefix(scope), "poll_queue_url": poll_queue.queue.queue_url},
        service="poller",
        index_actions=[QUERY],
        indexes=[schema.BY_ENTITY],
        timeout=DISPATCHER_TIMEOUT,
    )
    grant_config_read(dispatcher, scope)
    poll_queue.grant_send(dispatcher)
    poll_schedule = FunctionSchedule(
        scope,
        "PollSchedule",
        function=dispatcher,
        every=poll_interval(scope),
        description="Dispatches one CallRail poll per enabled workspace",
        what="poll dispatcher",
    )
    return Ingestion(poller=poller, dispatcher=dispatcher, poll_queue=poll_queue, poll_schedule=poll_schedule)
