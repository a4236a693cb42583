"""JobIntake through in-memory ports: what happens to a queued job when the worker or the reconciler hands it in."""

from __future__ import annotations

import pytest

from shared.config.hierarchy import ConfigLevel
from shared.errors import ConfigError
from shared.jobs.models import Job, JobStatus
from shared.processing.intake import IntakeOutcome, JobIntake
from tests.unit.fakes import FakeConfig, FakeJobStore, FakeLauncher


def queued(job_id: str, duration: int | None, **metadata: object) -> Job:
    return Job(
        job_id=job_id,
        partner_id="p1",
        organization_id="o1",
        workspace_id="w1",
        status=JobStatus.QUEUED,
        created_at="2026-06-01T00:00:00Z",
        updated_at="2026-06-01T00:00:00Z",
        source="callrail",
        duration_seconds=duration,
        source_metadata=dict(metadata),
    )


def intake(*jobs: Job, minimum: int | None = None) -> tuple[JobIntake, FakeJobStore, FakeConfig, FakeLauncher]:
    store, config, launcher = FakeJobStore(*jobs), FakeConfig(), FakeLauncher()
    if minimum is not None:
        config.set(ConfigLevel.WORKSPACE, "w1", {"processing": {"filters": {"min_duration_seconds": minimum}}})
    return JobIntake(store, config, launcher), store, config, launcher


def test_a_call_shorter_than_the_minimum_is_skipped_with_the_spec_reason_and_never_processed() -> None:
    admit, store, _, launcher = intake(queued("1", 12), minimum=30)

    assert admit.admit(store.jobs["1"]) is IntakeOutcome.SKIPPED

    skipped = store.jobs["1"]
    assert skipped.status is JobStatus.SKIPPED
    assert skipped.skipped_reason == "duration_below_minimum:12<30"
    assert launcher.runs == []


def test_a_call_with_no_known_duration_counts_as_zero_seconds() -> None:
    admit, store, _, _ = intake(queued("1", None), minimum=1)
    admit.admit(store.jobs["1"])
    assert store.jobs["1"].skipped_reason == "duration_below_minimum:0<1"


def test_a_passing_call_starts_one_run_however_often_its_record_is_delivered() -> None:
    admit, store, _, launcher = intake(queued("1", 90), minimum=30)

    outcomes = [admit.admit(store.jobs["1"]) for _ in range(3)]

    assert outcomes == [IntakeOutcome.STARTED, IntakeOutcome.ALREADY_STARTED, IntakeOutcome.ALREADY_STARTED]
    assert launcher.runs == ["job-1-0"]
    assert store.jobs["1"].status is JobStatus.QUEUED  # the run itself moves it on


def test_a_requeued_job_gets_a_run_of_its_own_and_reads_the_config_as_of_its_requeue() -> None:
    job = queued("1", 90, requeue_count=2, last_requeued_at="2026-06-01T10:00:00Z")
    admit, _, config, launcher = intake(job)

    assert admit.admit(job) is IntakeOutcome.STARTED

    assert launcher.runs == ["job-1-2"]
    assert config.resolved_fresh_since[-1] is not None  # a config change made before the requeue is seen


def test_a_stale_record_of_a_job_no_longer_queued_changes_nothing() -> None:
    admit, store, _, launcher = intake(queued("1", 12), minimum=30)
    record = store.jobs["1"]
    admit.admit(record)

    # The same record again (the job is skipped now), and a record of a job that has moved on
    assert admit.admit(record) is IntakeOutcome.NOT_QUEUED
    assert admit.admit(record.model_copy(update={"status": JobStatus.COMPLETED})) is IntakeOutcome.NOT_QUEUED
    assert len(store.jobs["1"].history) == 1
    assert launcher.runs == []


def test_a_malformed_config_neither_skips_nor_passes_the_job() -> None:
    admit, store, config, launcher = intake(queued("1", 12))
    config.set(ConfigLevel.WORKSPACE, "w1", {"processing": {"filters": {"min_duration_seconds": -5}}})

    with pytest.raises(ConfigError):
        admit.admit(store.jobs["1"])

    assert store.jobs["1"].status is JobStatus.QUEUED
    assert launcher.runs == []
