"""Creating jobs from calls: the job's fields, dedupe, skip-all and the day limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from shared.aws import client as aws_client
from shared.dynamo import from_item
from shared.ingest import jobs as ingest_jobs
from shared.ingest.jobs import COUNTER_TTL_ATTRIBUTE, CallJobStore, IngestOutcome
from shared.jobs.models import JobStatus
from shared.jobs.repository import JobRepository
from tests.conftest import Tenants
from tests.integration.ingest.conftest import integration, items_with_prefix, make_calls
from tests.support.aws import TABLE_NAME

NOW = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


def stored_jobs() -> list[dict[str, object]]:
    return [from_item(item) for item in items_with_prefix("JOB#")]


def counter(scope: str, tenant_id: str, day: str = "2026-11-28") -> dict[str, object] | None:
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"COUNTER#calls#{scope}#{tenant_id}#{day}"}, "sk": {"S": "COUNTER"}}
    )
    return from_item(item["Item"]) if "Item" in item else None


def test_a_call_becomes_a_queued_job_with_the_contract_fields(tenants: Tenants) -> None:
    # Given a call with a transcription
    workspace = tenants.workspace(0)
    call = make_calls(1)[0].model_copy(update={"transcription": "Agent: hello"})

    # When it is ingested
    outcome = CallJobStore(TABLE_NAME, aws_client("dynamodb")).create_from_call(
        workspace, call, integration("ACC1"), NOW
    )

    # Then a queued job carries the call and its tenants, found through the dedupe item
    assert outcome is IngestOutcome.QUEUED
    [dedupe] = [from_item(item) for item in items_with_prefix("SOURCE#callrail#")]
    assert dedupe["pk"] == f"SOURCE#callrail#{call.id}"
    job = JobRepository(TABLE_NAME, aws_client("dynamodb")).get(str(dedupe["job_id"]))
    assert job is not None
    assert (job.status, job.skipped_reason, job.skipped_at) == (JobStatus.QUEUED, None, None)
    assert (job.partner_id, job.organization_id, job.workspace_id) == (
        workspace.partner_id,
        workspace.organization_id,
        workspace.workspace_id,
    )
    assert (job.source, job.source_id, job.duration_seconds) == ("callrail", call.id, call.duration)
    assert job.created_at == job.updated_at == "2026-11-28T15:30:00.000Z"
    assert job.source_metadata == {
        "start_time": call.start_time.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "answered": True,
        "direction": "inbound",
        "customer_phone_number": call.customer_phone_number,
        "tracking_phone_number": call.tracking_phone_number,
        "company_id": "COM1",
        "recording_url": call.recording,
        "transcription": "Agent: hello",
        "callrail_account_id": "ACC1",
    }
    assert [event.status for event in job.history] == [JobStatus.QUEUED]
    # And it counts once against the workspace's and the partner's day, with counters that expire
    for scope, tenant_id in (("workspace", workspace.workspace_id), ("partner", workspace.partner_id)):
        item = counter(scope, tenant_id)
        assert item is not None
        assert item["count"] == 1
        assert item[COUNTER_TTL_ATTRIBUTE] == int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())


def test_a_replayed_call_creates_nothing_and_counts_nothing(tenants: Tenants) -> None:
    store, workspace, call = CallJobStore(TABLE_NAME, aws_client("dynamodb")), tenants.workspace(0), make_calls(1)[0]
    assert store.create_from_call(workspace, call, integration(), NOW) is IngestOutcome.QUEUED

    replays = [store.create_from_call(workspace, call, integration(), NOW + timedelta(minutes=n)) for n in range(3)]

    assert replays == [IngestOutcome.DUPLICATE] * 3
    assert len(stored_jobs()) == 1
    assert len(items_with_prefix("SOURCE#")) == 1
    assert counter("workspace", workspace.workspace_id) == {
        "pk": f"COUNTER#calls#workspace#{workspace.workspace_id}#2026-11-28",
        "sk": "COUNTER",
        "count": 1,
        COUNTER_TTL_ATTRIBUTE: int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()),
    }
    assert store.already_ingested([call.id, "CALunknown"]) == {call.id}


def test_skip_all_on_ingest_skips_every_call_with_the_spec_reason_beyond_the_limits(tenants: Tenants) -> None:
    store, workspace = CallJobStore(TABLE_NAME, aws_client("dynamodb")), tenants.workspace(0)
    settings = integration(skip_all_on_ingest=True, max_calls_per_workspace=2, max_total_calls=0)

    outcomes = [store.create_from_call(workspace, call, settings, NOW) for call in make_calls(5)]

    assert outcomes == [IngestOutcome.SKIPPED_ALL] * 5
    jobs = stored_jobs()
    assert {(job["status"], job["skipped_reason"], job["skipped_at"]) for job in jobs} == {
        ("skipped", "skip_all_on_ingest", "2026-11-28T15:30:00.000Z")
    }
    assert counter("workspace", workspace.workspace_id) is None  # skipped jobs are not counted
    assert counter("partner", workspace.partner_id) is None


def test_the_workspace_limit_is_exact(tenants: Tenants) -> None:
    # Given a workspace that may ingest 7 calls a day
    store, workspace = CallJobStore(TABLE_NAME, aws_client("dynamodb")), tenants.workspace(0)
    settings = integration(max_calls_per_workspace=7)

    # When 20 calls arrive
    outcomes = [store.create_from_call(workspace, call, settings, NOW) for call in make_calls(20)]

    # Then the first 7 are queued and the other 13 skipped for the rate limit, without being counted
    assert outcomes == [IngestOutcome.QUEUED] * 7 + [IngestOutcome.RATE_LIMITED] * 13
    jobs = stored_jobs()
    assert sum(job["status"] == "queued" for job in jobs) == 7
    skipped = [job for job in jobs if job["status"] == "skipped"]
    assert len(skipped) == 13
    assert {job["skipped_reason"] for job in skipped} == {"rate_limit"}
    assert all(job["skipped_at"] == "2026-11-28T15:30:00.000Z" for job in skipped)
    assert counter("workspace", workspace.workspace_id)["count"] == 7  # type: ignore[index]
    assert counter("partner", workspace.partner_id)["count"] == 7  # type: ignore[index]
    # And the next UTC day starts from zero
    tomorrow = store.create_from_call(workspace, make_calls(1, prefix="NEXT")[0], settings, NOW + timedelta(days=1))
    assert tomorrow is IngestOutcome.QUEUED


def test_the_partner_limit_holds_across_its_workspaces(tenants: Tenants) -> None:
    # Given two workspaces of one partner that may ingest 5 calls a day together
    store = CallJobStore(TABLE_NAME, aws_client("dynamodb"))
    first, second = tenants.workspace(0), tenants.workspace(2)
    assert first.partner_id == second.partner_id
    assert first.organization_id != second.organization_id
    settings = integration(max_total_calls=5)

    # When each ingests 4 calls, alternately
    outcomes: dict[str, list[IngestOutcome]] = {first.workspace_id: [], second.workspace_id: []}
    for a, b in zip(make_calls(4, prefix="A"), make_calls(4, prefix="B"), strict=True):
        outcomes[first.workspace_id].append(store.create_from_call(first, a, settings, NOW))
        outcomes[second.workspace_id].append(store.create_from_call(second, b, settings, NOW))

    # Then exactly 5 are queued across both, and a workspace of another partner is not affected
    queued = sum(outcome is IngestOutcome.QUEUED for values in outcomes.values() for outcome in values)
    assert queued == 5
    assert outcomes[first.workspace_id] == [IngestOutcome.QUEUED] * 3 + [IngestOutcome.RATE_LIMITED]
    assert counter("partner", first.partner_id)["count"] == 5  # type: ignore[index]
    other = tenants.workspace(4)
    assert other.partner_id != first.partner_id
    assert store.create_from_call(other, make_calls(1, prefix="C")[0], settings, NOW) is IngestOutcome.QUEUED


def test_a_limit_of_zero_queues_nothing(tenants: Tenants) -> None:
    store, workspace = CallJobStore(TABLE_NAME, aws_client("dynamodb")), tenants.workspace(0)

    outcome = store.create_from_call(workspace, make_calls(1)[0], integration(max_calls_per_workspace=0), NOW)

    assert outcome is IngestOutcome.RATE_LIMITED
    assert counter("workspace", workspace.workspace_id) is None


def test_a_job_id_collision_takes_a_new_id(tenants: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a job id that is already taken
    store, workspace = CallJobStore(TABLE_NAME, aws_client("dynamodb")), tenants.workspace(0)
    first, second = make_calls(2)
    store.create_from_call(workspace, first, integration(), NOW)
    taken = str(from_item(items_with_prefix("SOURCE#")[0])["job_id"])
    ids = iter([taken, "123"])
    monkeypatch.setattr(ingest_jobs, "new_job_id", lambda _now: next(ids))

    # When the next call is given that id first
    outcome = store.create_from_call(workspace, second, integration(), NOW)

    # Then it is stored under a fresh id, the first job is untouched and the call counted once
    assert outcome is IngestOutcome.QUEUED
    assert sorted(str(job["job_id"]) for job in stored_jobs()) == sorted([taken, "123"])
    assert JobRepository(TABLE_NAME, aws_client("dynamodb")).get(taken).source_id == first.id  # type: ignore[union-attr]
    assert counter("workspace", workspace.workspace_id)["count"] == 2  # type: ignore[index]
