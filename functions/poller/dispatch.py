"""Dispatcher (scheduled): one poll-queue message per workspace whose CallRail integration is enabled.

A workspace with a malformed or incomplete config is logged and counted and left out; the others are sent.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.aws import client
from shared.clock import parse_timestamp, utc_now
from shared.config.hierarchy import ConfigStore
from shared.ingest.poller import dispatch
from shared.settings import PollerSettings
from shared.tenants.registry import TenantRegistry

logger = Logger()
metrics = Metrics()


@cache
def _settings() -> PollerSettings:
    return PollerSettings.from_environ()


@cache
def _configs() -> ConfigStore:
    settings = _settings()
    return ConfigStore(settings.config_prefix, client("ssm"), max_age_seconds=settings.config_cache_seconds)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = _settings()
    if not settings.poll_queue_url:
        raise RuntimeError("POLL_QUEUE_URL is not set")
    # The schedule's own time: a redelivered schedule event dispatches the same window again.
    window_end = parse_timestamp(event["time"]) if event.get("time") else utc_now()
    report = dispatch(
        TenantRegistry(settings.table_name, client("dynamodb")),
        _configs(),
        client("sqs"),
        settings.poll_queue_url,
        window_end,
    )
    for skipped in report.invalid_config:
        logger.error(
            "workspace not dispatched: invalid config", workspace_id=skipped.workspace_id, error=skipped.reason
        )
    for skipped in report.misconfigured:
        logger.warning(
            "workspace not dispatched: misconfigured", workspace_id=skipped.workspace_id, error=skipped.reason
        )
    for skipped in report.send_failures:
        logger.error("poll message not sent", workspace_id=skipped.workspace_id, error=skipped.reason)
    metrics.add_metric(name="WorkspacesDispatched", unit=MetricUnit.Count, value=report.sent)
    metrics.add_metric(name="WorkspacesMisconfigured", unit=MetricUnit.Count, value=len(report.misconfigured))
    metrics.add_metric(name="WorkspacesConfigInvalid", unit=MetricUnit.Count, value=len(report.invalid_config))
    metrics.add_metric(name="PollMessagesNotSent", unit=MetricUnit.Count, value=len(report.send_failures))
    summary = report.summary()
    logger.info("workspaces dispatched", **summary)
    return summary
