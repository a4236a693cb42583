"""How jobs reach the pipeline: the worker on the table's change stream, and the reconciler on a schedule.

The stream mapping only delivers transitions *into* ``queued`` (docs/pipeline.md): a job created queued, or a
job that was not queued and now is (a requeue). Everything else on the stream never invokes the worker.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from shared.jobs.models import JobStatus
from shared.schema import Entity

STREAM_BATCH_SIZE = 25
STREAM_RETRY_ATTEMPTS = 5
STREAM_MAX_RECORD_AGE = cdk.Duration.days(1)
DEAD_LETTER_RETENTION = cdk.Duration.days(14)
RECONCILE_CONTEXT_KEY = "reconcile_every_minutes"
DEFAULT_RECONCILE_MINUTES = 5
STUCK_CONTEXT_KEY = "stuck_after_minutes"
DEFAULT_STUCK_MINUTES = 15
RECONCILE_RETRY_ATTEMPTS = 2
RECONCILE_MAX_EVENT_AGE = cdk.Duration.minutes(5)  # the next tick supersedes an older one
ALARM_PERIOD = cdk.Duration.minutes(5)

_QUEUED_JOB = {"entity": {"S": [Entity.JOB]}, "status": {"S": [JobStatus.QUEUED.value]}}
# The two stream filters (OR): a job inserted as queued; a job modified into queued from any other status.
JOB_QUEUED_PATTERNS: tuple[dict[str, Any], ...] = (
    {"eventName": ["INSERT"], "dynamodb": {"NewImage": _QUEUED_JOB}},
    {
        "eventName": ["MODIFY"],
        "dynamodb": {
            "NewImage": _QUEUED_JOB,
            "OldImage": {"status": {"S": [{"anything-but": [JobStatus.QUEUED.value]}]}},
        },
    },
)


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An SSE-SQS encrypted, TLS-only queue that keeps failed deliveries for 14 days (SQS's maximum)."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )


def acknowledge_dead_letter_queue(queue: sqs.Queue) -> None:
    """A queue that is the dead-letter destination of something other than a queue (cdk-nag cannot tell)."""
    acknowledge(
        queue,
        "SQS3",
        "This queue is itself a dead-letter queue (the stream mapping's on-failure destination or a schedule "
        "target's DLQ); an alarm fires on its first message and nothing consumes it automatically.",
    )


def alarm_at_least_once(
    scope: Construct, construct_id: str, metric: cloudwatch.IMetric, description: str
) -> cloudwatch.Alarm:
    """Alarms as soon as ``metric`` reaches 1 in a period; no data (an idle function) is fine."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def dead_letter_alarm(scope: Construct, construct_id: str, queue: sqs.Queue, what: str) -> cloudwatch.Alarm:
    visible = queue.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD, statistic="Maximum")
    return alarm_at_least_once(
        scope, construct_id, visible, f"{what} could not be delivered and waits in {queue.node.path}"
    )


def errors_alarm(scope: Construct, construct_id: str, function: lambda_.IFunction, what: str) -> cloudwatch.Alarm:
    errors = function.metric_errors(period=ALARM_PERIOD, statistic="Sum")
    return alarm_at_least_once(scope, construct_id, errors, f"The {what} function failed")


class StreamWorker(Construct):
    """A function's filtered mapping on the table stream, its dead-letter queue and its alarms (by default the
    worker's: transitions into ``queued``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        worker: lambda_.IFunction,
        table: dynamodb.ITable,
        patterns: tuple[dict[str, Any], ...] = JOB_QUEUED_PATTERNS,
        what: str = "worker",
        record: str = "A queued job's stream record",
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        acknowledge_dead_letter_queue(self.dead_letter_queue)
        # Records that still fail after the retries (or outlive a day) land here as stream pointers.
        self.event_source = event_sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=STREAM_BATCH_SIZE,
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=STREAM_RETRY_ATTEMPTS,
            max_record_age=STREAM_MAX_RECORD_AGE,
            on_failure=event_sources.SqsDlq(self.dead_letter_queue),
            filters=[lambda_.FilterCriteria.filter(pattern) for pattern in patterns],
        )
        worker.add_event_source(self.event_source)
        self.dead_letter_alarm = dead_letter_alarm(self, "DeadLetterAlarm", self.dead_letter_queue, record)
        self.errors_alarm = errors_alarm(self, "ErrorsAlarm", worker, what)


class FunctionSchedule(Construct):
    """Invokes ``function`` every ``every`` (an EventBridge rule), with retries, a dead-letter queue and alarms.

    EventBridge invokes asynchronously, so the tick is retried by Lambda itself: the function's asynchronous
    invoke config sets the retries and the maximum event age, and sends a tick that still failed (or expired)
    to the dead-letter queue as an invocation record. The rule's target sends there too what EventBridge could
    not hand to Lambda at all. The queue alarms on its first message; the function's errors alarm too.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        every: cdk.Duration,
        description: str,
        what: str,
        tick: str | None = None,
        retry_attempts: int = RECONCILE_RETRY_ATTEMPTS,
        max_event_age: cdk.Duration = RECONCILE_MAX_EVENT_AGE,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        acknowledge_dead_letter_queue(self.dead_letter_queue)
        # Also grants the function's role sqs:SendMessage on the queue (Lambda sends with the function's rights).
        function.configure_async_invoke(
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=description,
            schedule=events.Schedule.rate(every),
            targets=[
                targets.LambdaFunction(
                    function,
                    retry_attempts=retry_attempts,
                    max_event_age=max_event_age,
                    dead_letter_queue=self.dead_letter_queue,
                )
            ],
        )
        self.dead_letter_alarm = dead_letter_alarm(
            self, "DeadLetterAlarm", self.dead_letter_queue, tick or f"A {what} tick"
        )
        self.errors_alarm = errors_alarm(self, "ErrorsAlarm", function, what)


class ReconcileSchedule(FunctionSchedule):
    """Runs the reconciler every few minutes (context ``reconcile_every_minutes``, default 5)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, reconciler: lambda_.IFunction, every: cdk.Duration
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            function=reconciler,
            every=every,
            description="Hands jobs stuck in queued back to the worker's intake",
            what="reconciler",
            tick="A reconcile tick",
        )


def minutes_from_context(scope: Construct, key: str, default: int) -> cdk.Duration:
    """A whole number of minutes >= 1 from the CDK context (``-c KEY=10``), ``default`` when it is not set."""
    value = scope.node.try_get_context(key)
    minutes = default if value is None else int(value)
    if minutes < 1:
        raise ValueError(f"Context {key} must be a whole number of minutes >= 1, got {value!r}")
    return cdk.Duration.minutes(minutes)


def reconcile_interval(scope: Construct) -> cdk.Duration:
    """The schedule's rate from the CDK context (``-c reconcile_every_minutes=10``), default 5 minutes."""
    return minutes_from_context(scope, RECONCILE_CONTEXT_KEY, DEFAULT_RECONCILE_MINUTES)


def stuck_after(scope: Construct) -> cdk.Duration:
    """How long a job may stay ``queued`` before the reconciler hands it over again (``-c stuck_after_minutes=30``),
    default 15 minutes."""
    return minutes_from_context(scope, STUCK_CONTEXT_KEY, DEFAULT_STUCK_MINUTES)
