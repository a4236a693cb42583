"""Batch starter: the table's stream, filtered to new requeue batch items, starts one execution per batch.

The execution is named after the batch, so a redelivered record starts nothing more (``ExecutionAlreadyExists``
is success). Partial batch failures: a record that fails is retried alone, then dead-lettered.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.stepfunctions import start_once
from shared.aws import client
from shared.batches.store import batch_from_item
from shared.settings import BatchStarterSettings

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@cache
def _settings() -> BatchStarterSettings:
    return BatchStarterSettings.from_environ()


def handle_record(record: DynamoDBRecord) -> None:
    batch = batch_from_item(record.raw_event["dynamodb"]["NewImage"])
    started = start_once(
        client("stepfunctions"),
        _settings().state_machine_arn,
        batch.batch_id,
        {"batch_id": batch.batch_id, "partner_id": batch.partner_id},
    )
    logger.info("requeue batch started" if started else "requeue batch already started", batch_id=batch.batch_id)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
