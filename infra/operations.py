"""What operators watch (docs/operations.md): alarms on systematic failures, and one dashboard per stage.

The alarms here watch rates and ages, where the alarms beside each construct (``infra.worker``, ``infra.ingestion``,
``infra.monitoring``) fire on a single dead letter or error: a pipeline that fails most jobs (Bedrock denied for
every job), stage functions that keep erroring, a worker that falls behind the table's stream, a table that
throttles, a poll queue that is not drained. Every alarm reaches the alarm topic (``AlarmNotifications``).
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.stage import Stage
from infra.worker import ALARM_PERIOD
from shared.ingest.jobs import IngestOutcome
from shared.processing.intake import IntakeOutcome

RATE_PERIOD = cdk.Duration.minutes(15)
FAILURE_RATE_PERCENT = 20  # of the executions that ended in the period
FAILURE_RATE_MIN_EXECUTIONS = 5  # fewer ended executions say nothing about a rate
STAGE_ERRORS_THRESHOLD = 5  # errors of one stage function in ALARM_PERIOD (a single bad job errors once)
ITERATOR_AGE_THRESHOLD = cdk.Duration.minutes(10)
THROTTLES_THRESHOLD = 1
POLL_AGE_CYCLES = 2  # the poll queue's oldest message may be this many poll intervals old
DASHBOARD_PERIOD = cdk.Duration.minutes(5)
# The Powertools services that emit the dashboard's metrics (POWERTOOLS_SERVICE_NAME, a metric dimension).
API_SERVICE = "jobs-api"
WORKER_SERVICE = "worker"
POLLER_SERVICE = "poller"
INGESTION_SOURCE = "callrail"  # the one source that ingests jobs today (the workspace poller)


def _alarm(
    scope: Construct,
    construct_id: str,
    metric: cloudwatch.IMetric,
    threshold: float,
    description: str,
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


class Operations(Construct):
    """The rate and age alarms and the stage's CloudWatch dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        stage_functions: Mapping[str, lambda_.IFunction],
        worker: lambda_.IFunction,
        table: dynamodb.ITableV2,
        poll_queue: sqs.IQueue,
        poll_interval: cdk.Duration,
        metrics_namespace: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = metrics_namespace
        self.failure_rate_alarm = self._failure_rate_alarm(state_machine)
        self.stage_error_alarms = {
            name: _alarm(
                self,
                f"{name}ErrorsAlarm",
                function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
                STAGE_ERRORS_THRESHOLD,
                f"The pipeline's {name} stage function failed {STAGE_ERRORS_THRESHOLD} or more times in "
                f"{ALARM_PERIOD.to_minutes()} minutes (see docs/operations.md)",
            )
            for name, function in stage_functions.items()
        }
        self.iterator_age_alarm = _alarm(
            self,
            "StreamIteratorAgeAlarm",
            worker.metric("IteratorAge", period=ALARM_PERIOD, statistic="Maximum"),
            ITERATOR_AGE_THRESHOLD.to_milliseconds(),
            f"The worker is more than {ITERATOR_AGE_THRESHOLD.to_minutes()} minutes behind the table's stream",
        )
        throttles = cloudwatch.MathExpression(
            expression="reads + writes",
            using_metrics={
                "reads": self._table_metric(table, "ReadThrottleEvents"),
                "writes": self._table_metric(table, "WriteThrottleEvents"),
            },
            label="Throttled reads and writes",
            period=ALARM_PERIOD,
        )
        self.throttles_alarm = _alarm(
            self, "TableThrottlesAlarm", throttles, THROTTLES_THRESHOLD, "The jobs table throttled requests"
        )
        max_age = cdk.Duration.minutes(poll_interval.to_minutes() * POLL_AGE_CYCLES)
        self.poll_queue_age_alarm = _alarm(
            self,
            "PollQueueAgeAlarm",
            poll_queue.metric_approximate_age_of_oldest_message(period=ALARM_PERIOD, statistic="Maximum"),
            max_age.to_seconds(),
            f"A workspace poll has waited {max_age.to_minutes()} minutes or more: the pollers do not keep up",
        )
        self.dashboard = self._dashboard(scope, state_machine)

    def _failure_rate_alarm(self, state_machine: sfn.StateMachine) -> cloudwatch.Alarm:
        ended = {
            "failed": state_machine.metric_failed(period=RATE_PERIOD, statistic="Sum"),
            "timedout": state_machine.metric_timed_out(period=RATE_PERIOD, statistic="Sum"),
            "succeeded": state_machine.metric_succeeded(period=RATE_PERIOD, statistic="Sum"),
        }
        rate = cloudwatch.MathExpression(
            expression=(
                f"IF((failed + timedout + succeeded) >= {FAILURE_RATE_MIN_EXECUTIONS}, "
                "100 * (failed + timedout) / (failed + timedout + succeeded), 0)"
            ),
            using_metrics=ended,
            label="Failed executions (%)",
            period=RATE_PERIOD,
        )
        return _alarm(
            self,
            "PipelineFailureRateAlarm",
            rate,
            FAILURE_RATE_PERCENT,
            f"{FAILURE_RATE_PERCENT}% or more of the pipeline's executions failed in "
            f"{RATE_PERIOD.to_minutes()} minutes: a systematic failure (see docs/operations.md)",
        )

    @staticmethod
    def _table_metric(table: dynamodb.ITableV2, name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name=name,
            dimensions_map={"TableName": table.table_name},
            period=ALARM_PERIOD,
            statistic="Sum",
        )

    def _metric(self, name: str, service: str, label: str) -> cloudwatch.Metric:
        """A count the functions emit through Powertools (namespace of the stage, ``service`` dimension)."""
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={"service": service},
            period=DASHBOARD_PERIOD,
            statistic="Sum",
            label=label,
        )

    def _dashboard(self, scope: Construct, state_machine: sfn.StateMachine) -> cloudwatch.Dashboard:
        requeues = self._metric("JobsRequeued", API_SERVICE, "Requeued (API)")
        skips = [
            self._metric(f"Jobs_{IntakeOutcome.SKIPPED.value}", WORKER_SERVICE, "duration_below_minimum"),
            self._metric(f"CallsIngested_{IngestOutcome.RATE_LIMITED.value}", POLLER_SERVICE, "rate_limit"),
            self._metric(f"CallsIngested_{IngestOutcome.SKIPPED_ALL.value}", POLLER_SERVICE, "skip_all_on_ingest"),
        ]
        outcomes = [
            self._metric(f"Jobs_{IntakeOutcome.STARTED.value}", WORKER_SERVICE, "Started"),
            state_machine.metric_succeeded(period=DASHBOARD_PERIOD, statistic="Sum", label="Completed"),
            state_machine.metric_failed(period=DASHBOARD_PERIOD, statistic="Sum", label="Failed"),
            state_machine.metric_timed_out(period=DASHBOARD_PERIOD, statistic="Sum", label="Timed out"),
        ]
        ingestion = [
            self._metric(f"CallsIngested_{outcome.value}", POLLER_SERVICE, f"{INGESTION_SOURCE}: {outcome.value}")
            for outcome in IngestOutcome
        ]
        dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=Stage.of(scope).dashboard_name, default_interval=cdk.Duration.days(1)
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Requeues", left=[requeues], width=12),
            cloudwatch.GraphWidget(title="Skip reasons", left=skips, width=12, stacked=True),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Pipeline outcomes", left=outcomes, width=12),
            cloudwatch.GraphWidget(title="Ingestion per source", left=ingestion, width=12, stacked=True),
        )
        return dashboard

    def show_alarms(self, scope: Construct) -> None:
        """Add the state of every alarm under ``scope`` (the whole stack) to the dashboard."""
        alarms = [node for node in scope.node.find_all() if isinstance(node, cloudwatch.Alarm)]
        self.dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=24))
