"""Workspace poller: each poll-queue message ingests one workspace's window of CallRail calls.

The poll queue's mapping hands over one message at a time, so a slow CallRail account only ever delays its own
workspace. A poll that fails (CallRail down after the client's retries, an AWS error, a malformed config) is
reported as the message's failure and retried by SQS, then dead-lettered. A 429 is not a failure: the message is
done and the next schedule resumes from the cursor.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.aws import client
from shared.callrail.client import CallRailClient, longest_page_seconds
from shared.config.hierarchy import ConfigStore
from shared.config.model import CallRailIntegration
from shared.ingest.cursors import CursorStore
from shared.ingest.jobs import CallJobStore
from shared.ingest.poller import PollRequest, WorkspaceNotPollable, WorkspacePolls
from shared.settings import PollerSettings
from shared.tenants.registry import TenantRegistry

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

API_KEY_CACHE_SECONDS = 300
# Storing one call, a dedupe lookup and the cursor write, with room to spare.
STORE_SECONDS = 20
# Stop this long before the timeout: a page fetch started just before (every retry timing out) and the cursor
# write still finish, and the next poll resumes from the cursor. The poller's clients use the default settings.
STOP_MARGIN_MS = round((longest_page_seconds() + STORE_SECONDS) * 1000)


@cache
def _polls() -> WorkspacePolls:
    settings = PollerSettings.from_environ()
    # Imported here: only this function reads SecureString parameters.
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    secrets = SSMProvider(boto3_client=client("ssm"))
    http = httpx.Client()

    def client_for(integration: CallRailIntegration) -> CallRailClient:
        name = integration.api_key_parameter or ""
        api_key = str(secrets.get(name, decrypt=True, max_age=API_KEY_CACHE_SECONDS))
        return CallRailClient(settings.callrail_api_url, api_key, http)

    return WorkspacePolls(
        TenantRegistry(settings.table_name, client("dynamodb")),
        ConfigStore(settings.config_prefix, client("ssm"), max_age_seconds=settings.config_cache_seconds),
        CursorStore(settings.table_name, client("dynamodb")),
        CallJobStore(settings.table_name, client("dynamodb")),
        client_for=client_for,
    )


def handle_record(record: SQSRecord, lambda_context: LambdaContext) -> None:
    request = PollRequest.model_validate_json(record.body)
    try:
        report = _polls().poll(
            request, stop_when=lambda: lambda_context.get_remaining_time_in_millis() < STOP_MARGIN_MS
        )
    except WorkspaceNotPollable as error:
        # Disabled or deleted since the dispatch: nothing to retry.
        logger.warning("workspace not polled", workspace_id=request.workspace_id, reason=error.detail)
        return
    except Exception:
        # The message is retried (then dead-lettered); the cursor already stands at the last stored call.
        metrics.add_metric(name="WorkspacePollsFailed", unit=MetricUnit.Count, value=1)
        logger.exception("workspace poll failed", workspace_id=request.workspace_id)
        raise
    for invalid in report.invalid:
        logger.warning(
            "invalid CallRail call record",
            workspace_id=report.workspace_id,
            call_id=invalid.call_id,
            error=invalid.error,
        )
    for outcome, count in report.outcomes.items():
        metrics.add_metric(name=f"CallsIngested_{outcome.value}", unit=MetricUnit.Count, value=count)
    if report.invalid:
        metrics.add_metric(name="InvalidCallRecords", unit=MetricUnit.Count, value=len(report.invalid))
    if report.in_progress:
        metrics.add_metric(name="CallsInProgress", unit=MetricUnit.Count, value=report.in_progress)
    if report.rate_limited:
        metrics.add_metric(name="RateLimitedWorkspaces", unit=MetricUnit.Count, value=1)
    logger.info("workspace polled", **report.summary())


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
