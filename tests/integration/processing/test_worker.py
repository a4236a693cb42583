"""The worker: the spec's re-validation behaviour, idempotent hand-off, and partial batch failures."""

from __future__ import annotations

import random

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from shared.adapters.stepfunctions import StepFunctionsLauncher
from shared.aws import client as aws_client
from shared.config.hierarchy import ConfigLevel
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.integration.processing.conftest import CONFIG_PREFIX, Deliver, executions, record_for, set_config
from tests.support.aws import TABLE_NAME
from tests.support.factories import store_job

MIN_DURATION = "processing.filters.min_duration_seconds"


def _requeue(api: ApiCall, tenants: Tenants, job_id: str, workspace_id: str) -> None:
    reply = api("PATCH", f"/api/v1/jobs/{job_id}/status", tenants.callers[workspace_id], {"status": "queued"})
    assert reply.status == 200


def test_unchanged_filters_skip_a_requeued_job_again(
    api: ApiCall, tenants: Tenants, deliver: Deliver, state_machine: str
) -> None:
    # Given a 12 s call skipped under the platform minimum of 30 s, requeued without changing the filters
    workspace = tenants.workspace(0)
    job = store_job(workspace, duration=12)
    _requeue(api, tenants, job.job_id, workspace.workspace_id)
    requeued = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert requeued is not None

    # When the worker gets the transition into queued
    result = deliver([record_for(requeued)])

    # Then the job is skipped again with the spec's reason, its requeue count kept, and no run started
    assert result == {"batchItemFailures": []}
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.SKIPPED
    assert stored.skipped_reason == "duration_below_minimum:12<30"
    assert stored.requeue_count == 1
    assert stored.source_metadata["previous_skipped_reason"] == "duration_below_minimum:12<30"
    assert executions(state_machine) == []


@pytest.mark.parametrize(
    ("level", "tenant_of"),
    [
        (ConfigLevel.WORKSPACE, "workspace_id"),
        (ConfigLevel.ORGANIZATION, "organization_id"),
        (ConfigLevel.PARTNER, "partner_id"),
        (ConfigLevel.PLATFORM, None),
    ],
)
def test_a_threshold_lowered_at_any_level_lets_the_job_through(
    api: ApiCall, tenants: Tenants, deliver: Deliver, state_machine: str, level: ConfigLevel, tenant_of: str | None
) -> None:
    workspace = tenants.workspace(3)
    job = store_job(workspace, duration=12)
    set_config(level, getattr(workspace, tenant_of) if tenant_of else None, MIN_DURATION, 10)
    _requeue(api, tenants, job.job_id, workspace.workspace_id)
    requeued = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert requeued is not None

    deliver([record_for(requeued)])

    assert executions(state_machine) == [f"job-{job.job_id}-1"]
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.QUEUED  # the first stage moves it to transcribing


def test_a_workspace_raising_the_threshold_wins_over_a_lowered_partner(
    api: ApiCall, tenants: Tenants, deliver: Deliver, state_machine: str
) -> None:
    workspace = tenants.workspace(4)
    job = store_job(workspace, duration=20)
    set_config(ConfigLevel.PARTNER, workspace.partner_id, MIN_DURATION, 10)
    set_config(ConfigLevel.WORKSPACE, workspace.workspace_id, MIN_DURATION, 45)
    _requeue(api, tenants, job.job_id, workspace.workspace_id)
    requeued = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert requeued is not None

    deliver([record_for(requeued)])

    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.SKIPPED
    assert stored.skipped_reason == "duration_below_minimum:20<45"
    assert executions(state_machine) == []


def test_a_batch_delivered_three_times_shuffled_starts_one_run_per_job_and_fails_only_the_poison(
    tenants: Tenants, deliver: Deliver, state_machine: str
) -> None:
    # Given five new queued jobs that pass the filters, two that do not, and one record that cannot be read
    workspace = tenants.workspace(1)
    passing = [store_job(workspace, status=JobStatus.QUEUED, duration=60 + i) for i in range(5)]
    short = [store_job(workspace, status=JobStatus.QUEUED, duration=5 + i) for i in range(2)]
    records = [record_for(job, sequence=i) for i, job in enumerate(passing + short)]
    poison = record_for(passing[0], sequence=99)
    poison["dynamodb"]["NewImage"] = {**poison["dynamodb"]["NewImage"], "job_id": {"S": "not-a-number"}}
    shuffler = random.Random(7)

    # When the same batch arrives three times, in a different order each time
    results = []
    for _ in range(3):
        batch = [*records, poison]
        shuffler.shuffle(batch)
        results.append(deliver(batch))

    # Then each passing job has exactly one run, the short ones are skipped, and only the poison failed
    assert executions(state_machine) == sorted(f"job-{job.job_id}-0" for job in passing)
    for job in short:
        stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
        assert stored is not None
        assert stored.status is JobStatus.SKIPPED
    for result in results:
        assert result["batchItemFailures"] == [{"itemIdentifier": poison["dynamodb"]["SequenceNumber"]}]


def test_a_crash_after_starting_the_run_never_starts_a_second_one(
    tenants: Tenants, deliver: Deliver, state_machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = store_job(tenants.workspace(2), status=JobStatus.QUEUED, duration=90)
    record = record_for(job)
    original = StepFunctionsLauncher.launch

    def launch_then_crash(self: StepFunctionsLauncher, launched: object) -> bool:
        original(self, launched)  # type: ignore[arg-type]
        raise ConnectionError("the worker died before acknowledging the record")

    # Given a worker that dies right after starting the run (the invocation fails, so Lambda redelivers)
    monkeypatch.setattr(StepFunctionsLauncher, "launch", launch_then_crash)
    with pytest.raises(BatchProcessingError):
        deliver([record])

    # When the record is delivered again to a healthy worker
    monkeypatch.setattr(StepFunctionsLauncher, "launch", original)
    second = deliver([record])

    # Then it succeeds and there is still exactly one run
    assert second == {"batchItemFailures": []}
    assert executions(state_machine) == [f"job-{job.job_id}-0"]


def test_a_malformed_config_document_fails_the_record_and_leaves_the_job_queued(
    tenants: Tenants, deliver: Deliver, state_machine: str
) -> None:
    # Given a short job in a workspace whose organization document is broken, and a healthy neighbour
    broken, healthy = tenants.workspace(5), tenants.workspace(0)
    job = store_job(broken, status=JobStatus.QUEUED, duration=5)
    neighbour = store_job(healthy, status=JobStatus.QUEUED, duration=50)
    boto3.client("ssm").put_parameter(
        Name=f"{CONFIG_PREFIX}/organizations/{broken.organization_id}", Value="{broken", Type="String"
    )
    record = record_for(job, sequence=1)

    result = deliver([record, record_for(neighbour, sequence=2)])

    # Then only that record fails (to be retried, then dead-lettered); the job is neither skipped nor passed
    assert result["batchItemFailures"] == [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.QUEUED
    assert executions(state_machine) == [f"job-{neighbour.job_id}-0"]


def test_a_stale_record_of_a_job_requeued_since_leaves_it_to_the_newer_record(
    api: ApiCall, tenants: Tenants, deliver: Deliver, state_machine: str
) -> None:
    # Given the record of a short job's first arrival in queued, redelivered after the job was skipped and requeued
    workspace = tenants.workspace(3)
    job = store_job(workspace, status=JobStatus.QUEUED, duration=12)
    stale = record_for(job)
    assert deliver([stale]) == {"batchItemFailures": []}
    _requeue(api, tenants, job.job_id, workspace.workspace_id)

    # When the stale record comes again, then the job stays queued for its current requeue's record
    assert deliver([stale]) == {"batchItemFailures": []}
    stored = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(job.job_id)
    assert stored is not None
    assert (stored.status, stored.requeue_count) == (JobStatus.QUEUED, 1)

    # And the current record decides, against the filters as they are now
    set_config(ConfigLevel.WORKSPACE, workspace.workspace_id, MIN_DURATION, 5)
    assert deliver([record_for(stored, sequence=2)]) == {"batchItemFailures": []}
    assert executions(state_machine) == [f"job-{job.job_id}-1"]


def test_a_misplaced_partner_cap_does_not_hold_up_processing(
    tenants: Tenants, deliver: Deliver, state_machine: str
) -> None:
    # Given an organization document that sets the partner-wide cap (refused when written, but stored all the same)
    workspace = tenants.workspace(4)
    boto3.client("ssm").put_parameter(
        Name=f"{CONFIG_PREFIX}/organizations/{workspace.organization_id}",
        Value='{"integrations": {"callrail": {"max_total_calls": 9999}}}',
        Type="String",
        Overwrite=True,
    )
    job = store_job(workspace, status=JobStatus.QUEUED, duration=75)

    # When the worker gets the job, then the run starts: the filters never read that cap
    assert deliver([record_for(job)]) == {"batchItemFailures": []}
    assert executions(state_machine) == [f"job-{job.job_id}-0"]
