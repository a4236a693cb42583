"""The state machine's catch-all: record ``{stage, error, message}`` on the job and end it ``failed``."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.stages.common import logger, stages
from shared.pipeline.errors import SupersededRunError


def error_message(cause: str) -> str:
    """The readable message inside a Step Functions ``Cause`` (a Lambda error's JSON, or plain text)."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    error = event.get("error") or {}
    name = str(error.get("Error", "UnknownError"))
    message = error_message(str(error.get("Cause", "")))
    if name == SupersededRunError.__name__:
        logger.info("pipeline run superseded by a newer requeue", job_id=event["job_id"], error_message=message)
    else:
        logger.error("pipeline run failed", job_id=event["job_id"], error=name, error_message=message)
    return stages().fail(event["job_id"], int(event["requeue_count"]), name, message)
