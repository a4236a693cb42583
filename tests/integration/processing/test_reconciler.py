"""The reconciler: jobs left in queued past the configured age go through the intake again, others wait."""

from __future__ import annotations

import boto3
import pytest

from functions.reconciler import handler as reconciler
from shared.aws import client as aws_client
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from tests.conftest import Tenants
from tests.integration.processing.conftest import CONFIG_PREFIX, executions
from tests.support.aws import TABLE_NAME
from tests.support.events import FakeContext
from tests.support.factories import store_job


@pytest.fixture
def run_reconciler(state_machine: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STUCK_AFTER_SECONDS", "600")
    reconciler._settings.cache_clear()
    reconciler._intake.cache_clear()
    yield lambda: reconciler.lambda_handler({}, FakeContext())  # type: ignore[arg-type]
    reconciler._settings.cache_clear()
    reconciler._intake.cache_clear()


def test_stuck_jobs_are_admitted_again_and_recent_ones_left_alone(
    tenants: Tenants, state_machine: str, run_reconciler
) -> None:
    stuck_long = store_job(tenants.workspace(0), status=JobStatus.QUEUED, duration=50, minutes_ago=30)
    stuck_short = store_job(tenants.workspace(6), status=JobStatus.QUEUED, duration=3, minutes_ago=45)
    recent = store_job(tenants.workspace(0), status=JobStatus.QUEUED, duration=50, minutes_ago=1)

    result = run_reconciler()

    assert result == {"outcomes": {"started": 1, "skipped": 1}}
    assert executions(state_machine) == [f"job-{stuck_long.job_id}-0"]
    skipped = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(stuck_short.job_id)
    assert skipped is not None
    assert skipped.skipped_reason == "duration_below_minimum:3<30"
    assert recent.job_id not in str(executions(state_machine))


def test_a_job_whose_run_exists_is_not_started_twice(tenants: Tenants, state_machine: str, run_reconciler) -> None:
    store_job(tenants.workspace(1), status=JobStatus.QUEUED, duration=50, minutes_ago=30)

    first, second = run_reconciler(), run_reconciler()

    assert first == {"outcomes": {"started": 1}}
    # Step Functions answers a repeated start of a running execution (same name and input) with the original
    # execution, and a closed one with ExecutionAlreadyExists: either way there is still one run.
    assert sum(second["outcomes"].values()) == 1
    assert len(executions(state_machine)) == 1


def test_a_broken_workspace_does_not_stop_the_others_and_the_run_reports_failure(
    tenants: Tenants, state_machine: str, run_reconciler
) -> None:
    broken = tenants.workspace(2)
    store_job(broken, status=JobStatus.QUEUED, duration=50, minutes_ago=30)
    healthy = store_job(tenants.workspace(7), status=JobStatus.QUEUED, duration=50, minutes_ago=30)
    boto3.client("ssm").put_parameter(
        Name=f"{CONFIG_PREFIX}/workspaces/{broken.workspace_id}", Value="[]", Type="String"
    )

    with pytest.raises(RuntimeError, match="1 stuck job"):
        run_reconciler()

    assert executions(state_machine) == [f"job-{healthy.job_id}-0"]
