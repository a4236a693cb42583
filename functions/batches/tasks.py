"""The requeue batch state machine's tasks: ``Page``, ``Finish`` (also ``FinishFailed``) and ``Announce``.

Each is its own function (its own grants); each handler parses the task's input and calls the domain.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.eventbridge import EventBridgePublisher
from shared.aws import client
from shared.batches.completion import BatchAnnouncer, BatchFinisher
from shared.batches.models import BatchStatus
from shared.batches.runner import BatchRunner
from shared.batches.runs import BatchRuns
from shared.batches.selection import BatchSelector
from shared.batches.store import BatchStore
from shared.batches.throttle import RequeueThrottle
from shared.config.heads import ConfigHeads
from shared.config.hierarchy import ConfigStore
from shared.jobs.repository import JobRepository
from shared.pipeline.publishing import WebhookDelivery
from shared.settings import BatchAnnouncerSettings, BatchRunnerSettings
from shared.tenants.registry import TenantRegistry

logger = Logger()


def _config(settings: BatchRunnerSettings) -> ConfigStore:
    """The config, cached, and refreshed from the table's config heads when older than the batch."""
    db = client("dynamodb")
    return ConfigStore(
        settings.config_prefix,
        client("ssm"),
        max_age_seconds=settings.config_cache_seconds,
        heads=ConfigHeads(settings.table_name, db).documents,
    )


@cache
def runner() -> BatchRunner:
    settings = BatchRunnerSettings.from_environ()
    db = client("dynamodb")
    return BatchRunner(
        runs=BatchRuns(settings.table_name, db),
        selector=BatchSelector(settings.table_name, db),
        jobs=JobRepository(settings.table_name, db),
        config=_config(settings),
        throttle=RequeueThrottle(settings.table_name, db),
    )


@cache
def finisher() -> BatchFinisher:
    settings = BatchRunnerSettings.from_environ()
    db = client("dynamodb")
    return BatchFinisher(BatchRuns(settings.table_name, db), BatchStore(settings.table_name, db))


@cache
def announcer() -> BatchAnnouncer:
    settings = BatchAnnouncerSettings.from_environ()
    # Imported here: only this function needs the SecureString provider.
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    secrets = SSMProvider(boto3_client=client("ssm"))

    def secret(name: str) -> bytes:
        return str(secrets.get(name, decrypt=True, max_age=300)).encode()

    return BatchAnnouncer(
        events=EventBridgePublisher(settings.event_bus_name, client("events")),
        config=_config(settings),
        workspaces=TenantRegistry(settings.table_name, client("dynamodb")),
        webhooks=WebhookDelivery(),
        secret=secret,
    )


@logger.inject_lambda_context
def page_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Runs the batch's next page; returns the execution's next state (``done``, ``wait_seconds``, ``outcome``)."""
    result = runner().run_page(event["batch_id"], event["partner_id"])
    logger.info("requeue batch page", batch_id=event["batch_id"], done=result.done, wait_seconds=result.wait_seconds)
    return result.state(event["batch_id"], event["partner_id"])


@logger.inject_lambda_context
def finish_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Ends the batch with ``outcome`` and releases its locks; returns the ``requeue_batch.completed`` event."""
    completed = finisher().finish(event["batch_id"], BatchStatus(event["outcome"]))
    logger.info("requeue batch finished", batch_id=event["batch_id"], status=completed["status"])
    return completed


@logger.inject_lambda_context
def announce_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Sends the completion event to the bus and the workspaces' webhooks."""
    delivered = announcer().announce(event)
    logger.info("requeue batch announced", batch_id=event["batch_id"], webhooks_delivered=delivered)
    return {"webhooks_delivered": delivered}
