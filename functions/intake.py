"""The job intake's wiring, shared by the two functions that hand jobs to it: the worker and the reconciler."""

from __future__ import annotations

from shared.adapters.stepfunctions import StepFunctionsLauncher
from shared.aws import client
from shared.config.heads import ConfigHeads
from shared.config.hierarchy import ConfigStore
from shared.jobs.repository import JobRepository
from shared.processing.intake import JobIntake
from shared.settings import WorkerSettings


def job_intake(settings: WorkerSettings) -> JobIntake:
    """The intake over the table, the config (cached, and refreshed from the table's config heads for requeued
    jobs: read-your-writes) and the pipeline."""
    return JobIntake(
        jobs=JobRepository(settings.table_name, client("dynamodb")),
        config=ConfigStore(
            settings.config_prefix,
            client("ssm"),
            max_age_seconds=settings.config_cache_seconds,
            heads=ConfigHeads(settings.table_name, client("dynamodb")).documents,
        ),
        launcher=StepFunctionsLauncher(settings.state_machine_arn, client("stepfunctions")),
    )
