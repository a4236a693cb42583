"""Reconciler (scheduled): jobs that stayed ``queued`` too long go through the intake again."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.intake import job_intake
from shared.aws import client
from shared.clock import format_timestamp, utc_now
from shared.errors import DomainError
from shared.jobs.repository import JobRepository
from shared.processing.intake import JobIntake
from shared.processing.reconcile import stuck_queued_jobs
from shared.settings import ReconcilerSettings
from shared.tenants.registry import TenantRegistry

logger = Logger()


@cache
def _settings() -> ReconcilerSettings:
    return ReconcilerSettings.from_environ()


@cache
def _intake() -> JobIntake:
    return job_intake(_settings())


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = _settings()
    cutoff = format_timestamp(utc_now() - timedelta(seconds=settings.stuck_after_seconds))
    registry, jobs = (
        TenantRegistry(settings.table_name, client("dynamodb")),
        JobRepository(settings.table_name, client("dynamodb")),
    )
    outcomes: dict[str, int] = {}
    failures = 0
    for job in stuck_queued_jobs(registry, jobs, updated_before=cutoff):
        try:
            outcome = _intake().admit(job).value
        except DomainError as error:
            # One workspace's broken config must not stop the others; the job stays queued and is retried.
            failures += 1
            logger.error("stuck job could not be admitted", job_id=job.job_id, error=error.detail)
            continue
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        logger.info("stuck job admitted again", job_id=job.job_id, outcome=outcome)
    if failures:
        raise RuntimeError(f"{failures} stuck job(s) could not be admitted; see the log")
    return {"outcomes": outcomes}
