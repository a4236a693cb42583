"""What operators get: retries and dead letters for scheduled functions, alarms on systematic failure, a dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import REPO_ROOT
from infra.checkov import ACKNOWLEDGMENTS
from infra.operations import (
    FAILURE_RATE_PERCENT,
    ITERATOR_AGE_THRESHOLD,
    POLL_AGE_CYCLES,
    STAGE_ERRORS_THRESHOLD,
)
from infra.worker import RECONCILE_MAX_EVENT_AGE, RECONCILE_RETRY_ATTEMPTS
from tests.infra.conftest import Synthesized
from tests.infra.helpers import only, pipeline_machine, render, schedule_dead_letter_queue

pytestmark = pytest.mark.slow

DISPATCHER = "functions.poller.dispatch.lambda_handler"
RECONCILER = "functions.reconciler.handler.lambda_handler"
WORKER = "functions.worker.handler.lambda_handler"
STAGES = {
    "StartTranscription": "functions.stages.transcribe.start_handler",
    "CheckTranscription": "functions.stages.transcribe.check_handler",
    "Analyze": "functions.stages.analyze.lambda_handler",
    "Publish": "functions.stages.publish.lambda_handler",
}


@pytest.mark.parametrize("handler", [DISPATCHER, RECONCILER])
def test_scheduled_functions_retry_expire_and_send_failures_to_their_dead_letter_queue(
    synthesized: Synthesized, handler: str
) -> None:
    function = synthesized.function_id(handler)
    (config,) = [
        c["Properties"]
        for c in synthesized.resources("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function}
    ]
    queue = schedule_dead_letter_queue(synthesized, handler)

    assert config["MaximumRetryAttempts"] == RECONCILE_RETRY_ATTEMPTS
    assert config["MaximumEventAgeInSeconds"] == RECONCILE_MAX_EVENT_AGE.to_seconds()
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert config["Qualifier"] == "$LATEST"


def _alarms(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [alarm["Properties"] for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values()]


def test_the_pipelines_failure_rate_is_alarmed(synthesized: Synthesized) -> None:
    machine_id, _ = pipeline_machine(synthesized)
    (alarm,) = [a for a in _alarms(synthesized) if "Metrics" in a and "failed" in json.dumps(a["Metrics"])]
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    inputs = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}

    assert alarm["Threshold"] == FAILURE_RATE_PERCENT
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert "100 * (failed + timedout)" in expression["Expression"]
    assert {i: s["Metric"]["MetricName"] for i, s in inputs.items()} == {
        "failed": "ExecutionsFailed",
        "timedout": "ExecutionsTimedOut",
        "succeeded": "ExecutionsSucceeded",
    }
    for stat in inputs.values():
        assert stat["Metric"]["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine_id}}]


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_functions_errors_are_alarmed(synthesized: Synthesized, stage: str) -> None:
    function = {"Ref": synthesized.function_id(STAGES[stage])}
    (alarm,) = [
        a
        for a in _alarms(synthesized)
        if a.get("MetricName") == "Errors" and a["Dimensions"] == [{"Name": "FunctionName", "Value": function}]
    ]

    assert alarm["Threshold"] == STAGE_ERRORS_THRESHOLD
    assert stage in alarm["AlarmDescription"]


def test_stream_iterator_age_table_throttles_and_poll_queue_age_are_alarmed(synthesized: Synthesized) -> None:
    alarms = _alarms(synthesized)
    worker = {"Ref": synthesized.function_id(WORKER)}
    (table_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    poll_queue = synthesized.template_json["Outputs"]["PollQueueUrl"]["Value"]

    (iterator,) = [a for a in alarms if a.get("MetricName") == "IteratorAge"]
    assert iterator["Dimensions"] == [{"Name": "FunctionName", "Value": worker}]
    assert iterator["Threshold"] == ITERATOR_AGE_THRESHOLD.to_milliseconds()
    (throttles,) = [a for a in alarms if "ThrottleEvents" in json.dumps(a.get("Metrics", []))]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in throttles["Metrics"] if "MetricStat" in m}
    assert names == {"ReadThrottleEvents", "WriteThrottleEvents"}
    for metric in throttles["Metrics"]:
        if "MetricStat" in metric:
            assert metric["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "TableName", "Value": {"Ref": table_id}}]
    (age,) = [a for a in alarms if a.get("MetricName") == "ApproximateAgeOfOldestMessage"]
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": [poll_queue["Ref"], "QueueName"]}
    assert age["Threshold"] == 5 * 60 * POLL_AGE_CYCLES


def _dashboard_body(synthesized: Synthesized) -> dict[str, Any]:
    (_, dashboard) = only(synthesized.resources("AWS::CloudWatch::Dashboard"))
    assert dashboard["Properties"]["DashboardName"] == "gensail-dev-operations"
    body: dict[str, Any] = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    return body


def test_the_dashboard_shows_requeues_skip_reasons_outcomes_and_ingestion(synthesized: Synthesized) -> None:
    widgets = {w["properties"]["title"]: w["properties"] for w in _dashboard_body(synthesized)["widgets"]}

    def metric_names(title: str) -> set[str]:
        return {metric[1] for metric in widgets[title]["metrics"]}

    assert metric_names("Requeues") == {"JobsRequeued"}
    assert metric_names("Skip reasons") == {"Jobs_skipped", "CallsIngested_rate_limited", "CallsIngested_skipped_all"}
    assert metric_names("Pipeline outcomes") == {
        "Jobs_started",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    }
    assert metric_names("Ingestion per source") == {
        "CallsIngested_queued",
        "CallsIngested_skipped_all",
        "CallsIngested_rate_limited",
        "CallsIngested_duplicate",
    }
    custom = [m for w in ("Requeues", "Skip reasons") for m in widgets[w]["metrics"]]
    assert {metric[0] for metric in custom} == {"Gensail/dev"}  # the namespace the functions emit in
    assert len(widgets["Alarms"]["alarms"]) == len(_alarms(synthesized))


def test_the_dashboards_metrics_are_the_ones_the_handlers_emit() -> None:
    sources = "\n".join(path.read_text() for path in (REPO_ROOT / "functions").rglob("*.py"))

    assert 'name="JobsRequeued"' in sources
    assert 'name=f"Jobs_{outcome.value}"' in sources
    assert 'name=f"CallsIngested_{outcome.value}"' in sources


def test_operations_doc_covers_every_alarm_and_dead_letter_queue(synthesized: Synthesized) -> None:
    doc = Path(REPO_ROOT / "docs" / "operations.md").read_text()
    dead_letter_outputs = [name for name in synthesized.template_json["Outputs"] if "DeadLetterQueue" in name]

    for heading in (
        "PipelineFailureRateAlarm",
        "ErrorsAlarm",
        "StreamIteratorAgeAlarm",
        "TableThrottlesAlarm",
        "PollQueueAgeAlarm",
        "DeadLetterAlarm",
        "ApiServerErrorsAlarm",
        "PipelineTimeoutsAlarm",
    ):
        assert heading in doc
    for output in dead_letter_outputs:
        assert output in doc
    assert "redrive" in doc.lower()


def test_every_checkov_acknowledgment_has_a_reason_and_is_used(synthesized: Synthesized) -> None:
    skipped = [
        skip["id"]
        for resource in synthesized.template_json["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    for acknowledgment in ACKNOWLEDGMENTS:
        assert len(acknowledgment.reason.split()) >= 15, acknowledgment.check
        assert acknowledgment.check in skipped, f"{acknowledgment.check} acknowledged on no resource"
