"""Transcription stage: start (``queued -> transcribing``) and, for Amazon Transcribe, check until done."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.stages.common import logger, stages


@logger.inject_lambda_context
def start_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return stages().start_transcription(event["job_id"], int(event["requeue_count"]))


@logger.inject_lambda_context
def check_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = int(event["requeue_count"])
    return stages().check_transcription(event["job_id"], run, event["transcription"]["transcribe_job"])
