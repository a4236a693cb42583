"""A config preview's counts are what requeuing every skipped job of the workspace then does."""

from __future__ import annotations

from collections import Counter

import pytest

from functions.worker import handler as worker
from shared.aws import client as aws_client
from shared.jobs.models import JobStatus, SkipReason
from shared.jobs.repository import JobRepository
from tests.conftest import Tenants
from tests.integration.api.conftest import ApiCall
from tests.integration.processing.conftest import Deliver, record_for
from tests.support.aws import TABLE_NAME
from tests.support.factories import store_job

DURATIONS = [0, 3, 9, 10, 11, 14, 15, 16, 20, 29]
PATCH = {"processing": {"filters": {"min_duration_seconds": 15}}}


def test_preview_counts_equal_the_outcome_of_requeuing_every_skipped_job(
    api: ApiCall, tenants: Tenants, deliver: Deliver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given skipped calls of many durations and three skip reasons in workspace ws_000 (and one elsewhere)
    monkeypatch.setenv("CONFIG_CACHE_SECONDS", "60")
    worker._intake.cache_clear()
    workspace = tenants.workspace(0)
    for duration in DURATIONS:
        store_job(workspace, duration=duration)
        store_job(workspace, duration=duration, skipped_reason=SkipReason.SKIP_ALL_ON_INGEST)
    for duration in DURATIONS[::2]:
        store_job(workspace, duration=duration, skipped_reason=SkipReason.RATE_LIMIT)
    store_job(tenants.workspace(1), duration=20)
    deliver([record_for(store_job(workspace, status=JobStatus.QUEUED, duration=1))])  # a warm worker cache
    organization_key = tenants.callers["org_00"]

    # When the organization previews a 15 s minimum at its own level
    preview = api(
        "POST",
        "/api/v1/config/workspaces/ws_000/preview",
        organization_key,
        {"level": "organization", "id": "org_00", "patch": PATCH},
    )
    assert preview.status == 200, preview.body

    # And then applies it and requeues every skipped job of the workspace
    changed = api(
        "PATCH",
        "/api/v1/config/organizations/org_00",
        organization_key,
        PATCH,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert changed.status == 200
    jobs = JobRepository(TABLE_NAME, aws_client("dynamodb"))
    skipped = jobs.list_jobs(workspace.workspace_id, JobStatus.SKIPPED, 100).jobs
    passed: Counter[str] = Counter()
    again: Counter[str] = Counter()
    passed_ids = set()
    for job in skipped:
        assert api("PATCH", f"/api/v1/jobs/{job.job_id}/status", organization_key, {"status": "queued"}).status == 200
        requeued = jobs.get(job.job_id)
        assert requeued is not None
        deliver([record_for(requeued)])
        after = jobs.get(job.job_id)
        assert after is not None
        reason = str(job.skipped_reason).partition(":")[0]
        if after.status is JobStatus.SKIPPED:
            again[reason] += 1
        else:
            passed[reason] += 1
            passed_ids.add(job.job_id)

    # Then the preview said exactly that, in total and for each skip reason
    body = preview.body
    assert body["skipped_jobs"] == len(skipped) == 26  # and the warm-up call, skipped by the worker
    assert body["would_pass"] == sum(passed.values()) == 10
    assert body["would_stay_skipped"] == sum(again.values())
    assert sorted(group["reason"] for group in body["by_reason"]) == [
        "duration_below_minimum",
        "rate_limit",
        "skip_all_on_ingest",
    ]
    for group in body["by_reason"]:
        assert (group["would_pass"], group["would_stay_skipped"]) == (passed[group["reason"]], again[group["reason"]])
        assert set(group["sample_job_ids"]) <= passed_ids
    assert body["filters_before"]["processing.filters.min_duration_seconds"] == {
        "value": 30,
        "source": {"level": "platform", "id": None},
    }
    assert body["filters_after"]["processing.filters.min_duration_seconds"] == {
        "value": 15,
        "source": {"level": "organization", "id": "org_00"},
    }
