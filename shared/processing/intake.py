"""Intake of a queued job: check it against the filters as they are now, then skip it or start its pipeline run.

The worker (stream records) and the reconciler (jobs left in ``queued``) both hand jobs here. Every step is
idempotent: the skip is a conditional transition out of ``queued``, and a run is started under a name derived
from the job and its requeue count, so a record delivered twice never starts a second run.
"""

from __future__ import annotations

from enum import StrEnum

from shared.access import TenantPath
from shared.clock import now_iso, parse_timestamp
from shared.errors import InvalidTransition
from shared.jobs.models import Job, JobStatus
from shared.ports import ConfigReader, JobStore, PipelineLauncher
from shared.processing.filters import skip_reason


class IntakeOutcome(StrEnum):
    SKIPPED = "skipped"
    STARTED = "started"
    ALREADY_STARTED = "already_started"
    NOT_QUEUED = "not_queued"


def execution_name(job: Job) -> str:
    """The one pipeline run a job may have per requeue."""
    return f"job-{job.job_id}-{job.requeue_count}"


def requeued_at(job: Job) -> float | None:
    """When the job was last requeued (epoch seconds), if ever."""
    stamp = job.source_metadata.get("last_requeued_at")
    return parse_timestamp(str(stamp)).timestamp() if stamp else None


def tenant_path(job: Job) -> TenantPath:
    return TenantPath(partner_id=job.partner_id, organization_id=job.organization_id, workspace_id=job.workspace_id)


class JobIntake:
    """Decides what happens to a queued job."""

    def __init__(self, jobs: JobStore, config: ConfigReader, launcher: PipelineLauncher) -> None:
        self._jobs = jobs
        self._config = config
        self._launcher = launcher

    def admit(self, job: Job) -> IntakeOutcome:
        """Skip the job with the spec's reason if it fails a filter, otherwise start its pipeline run.

        A malformed config document raises ``ConfigError``: the job is neither skipped nor passed by accident.
        """
        if job.status is not JobStatus.QUEUED:
            return IntakeOutcome.NOT_QUEUED
        # Read-your-writes: a job requeued after this process cached the config is checked against documents read
        # since (a config change made before the requeue is then seen); any other job uses the cache.
        config = self._config.resolve(tenant_path(job), fresh_since=requeued_at(job)).config
        reason = skip_reason(job, config)
        if reason is None:
            return IntakeOutcome.STARTED if self._launcher.launch(job) else IntakeOutcome.ALREADY_STARTED
        now = now_iso()
        try:
            self._jobs.transition(
                job.job_id,
                JobStatus.QUEUED,
                JobStatus.SKIPPED,
                now=now,
                cause=f"processing filters: {reason}",
                set_fields={"skipped_reason": reason, "skipped_at": now},
                requeue_count=job.requeue_count,
            )
        except InvalidTransition:
            # Already handled by an earlier delivery of the same change, or a stale record of a job requeued
            # since (RunSuperseded): the newer change's own record decides.
            return IntakeOutcome.NOT_QUEUED
        return IntakeOutcome.SKIPPED
