"""Publishing stage: store the result, deliver signed webhooks, announce it, ``-> completed``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.stages.common import logger, stages


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return stages().publish(event["job_id"], int(event["requeue_count"]))
