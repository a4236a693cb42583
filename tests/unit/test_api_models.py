"""The API's job body is its own model: everything the public contract promises, mapped from the domain's job."""

from __future__ import annotations

import json
from pathlib import Path

from functions.api.models import Job as JobBody
from shared.jobs.models import Job, JobEvent, JobFailure, JobStatus

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def every_field_set() -> Job:
    return Job(
        job_id="42",
        partner_id="p1",
        organization_id="o1",
        workspace_id="w1",
        status=JobStatus.FAILED,
        skipped_reason="duration_below_minimum:12<30",
        skipped_at="2026-06-01T00:00:00Z",
        created_at="2026-06-01T00:00:00Z",
        updated_at="2026-06-01T00:05:00Z",
        source="callrail",
        source_id="CAL1",
        duration_seconds=12,
        source_metadata={"requeue_count": 1, "answered": True},
        history=[JobEvent(status=JobStatus.FAILED, at="2026-06-01T00:05:00Z", cause="analysis failed")],
        failure=JobFailure(stage="analyzing", error="PermanentStageError", message="no transcript"),
        result={"result_key": "results/42.json"},
    )


def test_the_public_job_carries_every_field_of_the_domain_job_unchanged() -> None:
    job = every_field_set()
    assert JobBody.of(job).model_dump(mode="json") == job.model_dump(mode="json")


def test_a_stored_field_reaches_clients_only_once_it_is_in_the_published_document() -> None:
    # A field the domain gains must be mapped in functions/api/models.py and published with `make openapi`:
    # the body's fields are exactly the documented ones, and the domain's are exactly the body's.
    documented = json.loads(OPENAPI.read_text())["components"]["schemas"]["Job"]["properties"]
    assert set(JobBody.model_fields) == set(documented)
    assert set(Job.model_fields) == set(JobBody.model_fields)
