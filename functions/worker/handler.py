"""Worker: the table's stream, filtered to transitions into ``queued``, hands each job to the intake.

Partial batch failures: a record that fails (a malformed config document, an AWS error) is reported alone and
retried by Lambda, then dead-lettered; its neighbours are not held back.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.intake import job_intake
from shared.jobs.repository import job_from_item
from shared.processing.intake import JobIntake
from shared.settings import WorkerSettings

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@cache
def _intake() -> JobIntake:
    return job_intake(WorkerSettings.from_environ())


def handle_record(record: DynamoDBRecord) -> None:
    image = record.raw_event["dynamodb"]["NewImage"]
    job = job_from_item(image)
    outcome = _intake().admit(job)
    metrics.add_metric(name=f"Jobs_{outcome.value}", unit=MetricUnit.Count, value=1)
    logger.info("job admitted", job_id=job.job_id, outcome=outcome.value, requeue_count=job.requeue_count)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
